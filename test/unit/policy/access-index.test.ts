import { expect } from 'chai';
import { newEnforcer, newModelFromString, Util, type Enforcer } from 'casbin';
import { ACCESS_MODEL, AccessIndex, AccessPolicyError, MAX_HIERARCHY_DEPTH, type AccessPolicy, type ViewSlot } from '../../../src/policy/access-index.js';
import { prng } from '../../support/prng.js';

/** The reference: a real Casbin enforcer over the same model and policy. */
async function casbinFor(policy: AccessPolicy): Promise<Enforcer> {
  const enforcer = await newEnforcer(newModelFromString(ACCESS_MODEL));
  // addPolicies refuses a whole batch when one rule already exists, so duplicates go first.
  const unique = <T extends string[]>(rows: T[]) => [...new Map(rows.map((row) => [row.join('\u0000'), row])).values()];
  if (policy.roleLinks.length > 0) await enforcer.addGroupingPolicies(unique(policy.roleLinks));
  if (policy.permissions.length > 0) await enforcer.addPolicies(unique(policy.permissions));
  return enforcer;
}

function refusal(run: () => unknown): AccessPolicyError {
  try {
    run();
  } catch (err) {
    expect(err).to.be.instanceOf(AccessPolicyError);
    return err as AccessPolicyError;
  }
  throw new Error('expected build() to refuse the policy');
}


const ENGINEERING: AccessPolicy = {
  roleLinks: [
    ['alice', 'role:staff-engineer'],
    ['role:staff-engineer', 'role:senior-engineer'],
    ['role:senior-engineer', 'role:engineer'],
    ['grace', 'role:senior-engineer'],
    ['bob', 'role:engineer'],
    ['henry', 'role:staff-engineer'],
    ['henry', 'role:engineer'],
    ['carol', 'role:auditor'],
    ['dave', 'role:admin'],
    ['erin', 'role:senior-engineer'],
    ['erin', 'role:auditor'],
  ],
  permissions: [
    ['role:engineer', '/repos/:repo', 'read'],
    ['role:engineer', '/repos/:repo/issues/:issue', 'write'],
    ['role:senior-engineer', '/repos/:repo/merge', 'write'],
    ['role:staff-engineer', '/repos/*', 'admin'],
    ['role:auditor', '/audit/*', 'read'],
    ['role:admin', '*', '*'],
    ['role:engineer', '/status', '*'],
    ['frank', '/profile/frank', 'read'],
    ['role:senior-engineer', '/repos/:repo', 'read'],
  ],
};

type Case = [name: string, subject: string, object: string, action: string, allowed: boolean, rolePath?: string[]];

const CASES: Case[] = [
  ['three-level inheritance reaches the base role', 'alice', '/repos/iam', 'read', true, ['alice', 'role:staff-engineer', 'role:senior-engineer']],
  ['a :param matches one segment', 'bob', '/repos/iam', 'read', true, ['bob', 'role:engineer']],
  ['a :param does not match two segments', 'bob', '/repos/iam/extra', 'read', false],
  ['a :param does not match an empty segment', 'bob', '/repos/', 'read', false],
  ['two :params', 'bob', '/repos/iam/issues/42', 'write', true, ['bob', 'role:engineer']],
  ['the action must match', 'bob', '/repos/iam/issues/42', 'read', false],
  ['middle level grants its own rules', 'grace', '/repos/iam/merge', 'write', true, ['grace', 'role:senior-engineer']],
  ['a lower level does not get higher rules', 'bob', '/repos/iam/merge', 'write', false],
  ['top level gets all three levels', 'alice', '/repos/iam/issues/7', 'write', true, ['alice', 'role:staff-engineer', 'role:senior-engineer', 'role:engineer']],
  ['/* matches deeper paths', 'alice', '/repos/iam/branches/main', 'admin', true, ['alice', 'role:staff-engineer']],
  ['/* matches an empty remainder', 'alice', '/repos/', 'admin', true, ['alice', 'role:staff-engineer']],
  ['/* needs its slash', 'alice', '/repos', 'admin', false],
  ['* object and * action grant anything', 'dave', '/anything/at/all', 'delete', true, ['dave', 'role:admin']],
  ['* object matches the empty object', 'dave', '', 'read', true, ['dave', 'role:admin']],
  ['rule action * grants any action', 'bob', '/status', 'restart', true, ['bob', 'role:engineer']],
  ['request action * is not a wildcard', 'bob', '/repos/iam', '*', false],
  ['request action * matches a rule action *', 'bob', '/status', '*', true, ['bob', 'role:engineer']],
  ['a second role of the subject', 'erin', '/audit/2024/q1', 'read', true, ['erin', 'role:auditor']],
  ['the shortest role path is reported', 'henry', '/repos/iam/issues/1', 'write', true, ['henry', 'role:engineer']],
  ['a rule naming the subject itself', 'frank', '/profile/frank', 'read', true, ['frank']],
  ['a role asked about directly', 'role:senior-engineer', '/repos/iam', 'read', true, ['role:senior-engineer']],
  ['unknown subject', 'mallory', '/repos/iam', 'read', false],
  ['subjects are case-sensitive', 'Alice', '/repos/iam', 'read', false],
  ['unknown object', 'alice', '/nothing/here', 'read', false],
  ['empty object', 'alice', '', 'read', false],
  ['objects are case-sensitive', 'bob', '/Status', 'read', false],
];

describe('AccessIndex', () => {
  describe('allow and deny, checked against Casbin too', () => {
    const index = AccessIndex.build(ENGINEERING, ACCESS_MODEL);
    let casbin: Enforcer;
    before(async () => {
      casbin = await casbinFor(ENGINEERING);
    });

    for (const [name, subject, object, action, allowed, rolePath] of CASES) {
      it(`${name}: ${subject} ${action} ${JSON.stringify(object)} → ${allowed ? 'allow' : 'deny'}`, () => {
        const decision = index.decide(subject, object, action);
        expect(decision.allowed).to.equal(allowed);
        expect(casbin.enforceSync(subject, object, action)).to.equal(allowed);
        expect(decision.rolePath).to.deep.equal(rolePath);
        if (allowed) {
          const rule = decision.rule!;
          expect(rule[0]).to.equal(rolePath!.at(-1));
          expect(Util.keyMatch2Func(object, rule[1])).to.equal(true);
          expect(rule[2] === action || rule[2] === '*').to.equal(true);
        } else {
          expect(decision.rule).to.equal(undefined);
          expect(decision.reason).to.match(/^deny by default: /);
        }
      });
    }

    it('the allow reason names the role path and the rule', () => {
      expect(index.decide('grace', '/repos/iam/issues/3', 'write').reason).to.equal(
        'grace -> role:senior-engineer -> role:engineer: p(role:engineer, /repos/:repo/issues/:issue, write)',
      );
      expect(index.decide('frank', '/profile/frank', 'read').reason).to.equal('frank: p(frank, /profile/frank, read)');
    });

    it('at equal path length the earliest rule is reported', () => {
      // role:engineer's read rule precedes role:senior-engineer's, but grace reaches senior first.
      expect(index.decide('grace', '/repos/iam', 'read').rule).to.deep.equal(['role:senior-engineer', '/repos/:repo', 'read']);
      const tie = AccessIndex.build({ roleLinks: [['u', 'role:x']], permissions: [['role:x', '/a/*', 'read'], ['role:x', '/a/:id', 'read']] });
      expect(tie.decide('u', '/a/1', 'read').rule).to.deep.equal(['role:x', '/a/*', 'read']);
    });

    it('the deny reason says why', () => {
      expect(index.decide('bob', '/repos/iam/merge', 'write').reason).to.equal('deny by default: no role of bob (1 role held or inherited) grants write on /repos/iam/merge');
      expect(index.decide('mallory', '/repos/iam', 'read').reason).to.equal('deny by default: mallory holds no role and no rule names it');
    });

    it('decideMany answers each request in order', () => {
      const decisions = index.decideMany([
        { subject: 'bob', object: '/repos/iam', action: 'read' },
        { subject: 'bob', object: '/repos/iam', action: 'admin' },
        { subject: 'dave', object: '/x', action: 'y' },
      ]);
      expect(decisions.map((d) => d.allowed)).to.deep.equal([true, false, true]);
    });
  });

  describe('Casbin pattern semantics', () => {
    // keyMatch2 rewrites the pattern into a regular expression without escaping it; the index must
    // agree with Casbin on every such corner, including where no literal prefix can be trusted.
    const patterns: Array<[pattern: string, objects: string[]]> = [
      ['/a.b', ['/a.b', '/aXb', '/a/b']],
      ['/repos*', ['/repo', '/repos', '/reposss', '/repos/x']],
      ['/a|/b', ['/a', '/b', '/zzz/b', '/a/zzz', '/c']],
      ['/a/*/c', ['/a/b/c', '/a//c', '/a/b/d/c', '/a/c']],
      ['/a/:id/b', ['/a/x/b', '/a/x/y/b', '/a//b']],
      ['/a:b', ['/a:b', '/aXb']],
      ['/t/:id', ['/t/x:y', '/t/line\nbreak']],
      ['*', ['x', '', 'a\nb']],
      ['/u/(x|y)', ['/u/x', '/u/y', '/u/z']],
      ['/v/[0-9]+', ['/v/1', '/v/12', '/v/a']],
      ['nope', ['nope', '/nope']],
      // A quantifier right after a slash makes that slash optional, so it is not a safe prefix.
      ['/opt/?', ['/opt', '/opt/', '/opt//']],
      // An alternation makes the prefix of its first branch meaningless for the second.
      ['/left/x|/right', ['/left/x', '/right', '/other/right', '/left/y']],
    ];
    // One action per pattern, so that each request can only be granted by its own pattern.
    const policy: AccessPolicy = { roleLinks: [['u', 'role:r']], permissions: patterns.map(([pattern], i) => ['role:r', pattern, `act${i}`]) };
    const index = AccessIndex.build(policy);
    let casbin: Enforcer;
    before(async () => {
      casbin = await casbinFor(policy);
    });
    patterns.forEach(([pattern, objects], i) => {
      for (const object of objects) {
        const expected = Util.keyMatch2Func(object, pattern);
        it(`${JSON.stringify(object)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(pattern)}`, () => {
          expect(casbin.enforceSync('u', object, `act${i}`)).to.equal(expected);
          expect(index.decide('u', object, `act${i}`).allowed).to.equal(expected);
        });
      }
    });
  });

  describe('refused policies', () => {
    it('refuses a cycle and names it', () => {
      const err = refusal(() => AccessIndex.build({ roleLinks: [['alice', 'role:a'], ['role:a', 'role:b'], ['role:b', 'role:a']], permissions: [] }));
      expect(err.kind).to.equal('cycle');
      expect(err.message).to.contain('role:a -> role:b -> role:a');
    });

    it('refuses a longer cycle reached through other roles', () => {
      const err = refusal(() =>
        AccessIndex.build({ roleLinks: [['u', 'role:top'], ['role:top', 'role:x'], ['role:x', 'role:y'], ['role:y', 'role:z'], ['role:z', 'role:x']], permissions: [] }),
      );
      expect(err.message).to.contain('role:x -> role:y -> role:z -> role:x');
    });

    it('refuses a role inheriting itself', () => {
      expect(refusal(() => AccessIndex.build({ roleLinks: [['role:a', 'role:a']], permissions: [] })).message).to.contain('role:a -> role:a');
    });

    it('accepts a diamond, which is not a cycle', () => {
      const index = AccessIndex.build({
        roleLinks: [['u', 'role:l'], ['u', 'role:r'], ['role:l', 'role:base'], ['role:r', 'role:base']],
        permissions: [['role:base', '/x', 'read']],
      });
      expect(index.decide('u', '/x', 'read').rolePath).to.deep.equal(['u', 'role:l', 'role:base']);
    });

    it('refuses a pattern on which Casbin never returns', () => {
      for (const pattern of ['/x/:', '/:/a']) {
        const err = refusal(() => AccessIndex.build({ roleLinks: [], permissions: [['role:a', pattern, 'read']] }));
        expect(err.kind).to.equal('pattern');
        expect(err.message).to.contain(JSON.stringify(pattern));
      }
    });

    it('refuses a pattern Casbin cannot compile', () => {
      for (const pattern of ['/a/(', '*/x', '/a/[']) {
        expect(refusal(() => AccessIndex.build({ roleLinks: [], permissions: [['role:a', pattern, 'read']] })).kind).to.equal('pattern');
      }
    });

    it('refuses malformed rows', () => {
      const bad = { roleLinks: [['alice']], permissions: [] } as unknown as AccessPolicy;
      expect(refusal(() => AccessIndex.build(bad)).kind).to.equal('shape');
    });

    it('accepts the model however it is spaced, and refuses any other model', () => {
      AccessIndex.build(ENGINEERING, ACCESS_MODEL.replace(/ = /g, '=').replace(/&&/g, ' && '));
      const err = refusal(() => AccessIndex.build(ENGINEERING, ACCESS_MODEL.replace('keyMatch2', 'keyMatch')));
      expect(err.kind).to.equal('model');
      expect(err.message).to.contain('m.m');
    });
  });

  describe('hierarchy depth', () => {
    it(`follows at most ${MAX_HIERARCHY_DEPTH} links, exactly like Casbin`, async () => {
      const chain = Array.from({ length: 13 }, (_, i) => `role:level-${i}`);
      const policy: AccessPolicy = {
        roleLinks: [['u', chain[0]!], ...chain.slice(1).map((role, i): [string, string] => [chain[i]!, role])],
        permissions: chain.map((role, i) => [role, `/level/${i}`, 'read']),
      };
      const index = AccessIndex.build(policy);
      const casbin = await casbinFor(policy);
      const answers = chain.map((_, i) => index.decide('u', `/level/${i}`, 'read').allowed);
      expect(answers).to.deep.equal(chain.map((_, i) => casbin.enforceSync('u', `/level/${i}`, 'read')));
      expect(answers.filter(Boolean)).to.have.length(MAX_HIERARCHY_DEPTH);
    });
  });

  describe('policy changes and the subject cache', () => {
    it('a new index answers with the new policy; the old one keeps the old answers', () => {
      const before = AccessIndex.build(ENGINEERING);
      expect(before.decide('bob', '/repos/iam', 'read').allowed).to.equal(true);
      const after = AccessIndex.build({ ...ENGINEERING, roleLinks: ENGINEERING.roleLinks.filter(([member]) => member !== 'bob') });
      expect(after.decide('bob', '/repos/iam', 'read').allowed).to.equal(false);
      expect(before.decide('bob', '/repos/iam', 'read').allowed).to.equal(true);
    });

    it('does not see later changes to the arrays it was built from', () => {
      const policy: AccessPolicy = { roleLinks: [['u', 'role:r']], permissions: [['role:r', '/x', 'read']] };
      const index = AccessIndex.build(policy);
      policy.roleLinks.push(['v', 'role:r']);
      policy.permissions[0]![2] = 'write';
      expect(index.decide('u', '/x', 'read').allowed).to.equal(true);
      expect(index.decide('v', '/x', 'read').allowed).to.equal(false);
    });

    it('keeps at most subjectCacheSize subjects and answers the same after eviction', () => {
      const index = AccessIndex.build(ENGINEERING, undefined, { subjectCacheSize: 2 });
      const subjects = ['alice', 'bob', 'carol', 'dave', 'erin', 'alice', 'bob'];
      const first = subjects.map((s) => index.decide(s, '/repos/iam', 'read'));
      expect(index.cachedSubjects).to.equal(2);
      expect(subjects.map((s) => index.decide(s, '/repos/iam', 'read'))).to.deep.equal(first);
      index.clearCache();
      expect(index.cachedSubjects).to.equal(0);
      expect(subjects.map((s) => index.decide(s, '/repos/iam', 'read'))).to.deep.equal(first);
    });

    it('does not cache subjects the policy never names', () => {
      const index = AccessIndex.build(ENGINEERING);
      for (let i = 0; i < 100; i++) index.decide(`stranger-${i}`, '/repos/iam', 'read');
      expect(index.cachedSubjects).to.equal(0);
    });

    it('a decision cannot be used to alter later ones', () => {
      const index = AccessIndex.build(ENGINEERING);
      const first = index.decide('alice', '/repos/iam', 'read');
      first.rolePath!.push('role:admin');
      first.rule![0] = 'role:admin';
      expect(index.decide('alice', '/repos/iam', 'read').rolePath).to.deep.equal(['alice', 'role:staff-engineer', 'role:senior-engineer']);
      expect(index.decide('alice', '/repos/iam', 'read').rule![0]).to.equal('role:senior-engineer');
    });

    it('denies everything on an empty policy (Casbin would allow the all-empty request)', async () => {
      const empty: AccessPolicy = { roleLinks: [], permissions: [] };
      expect(AccessIndex.build(empty).decide('', '', '').allowed).to.equal(false);
      expect((await casbinFor(empty)).enforceSync('', '', '')).to.equal(true);
    });
  });

  describe('equivalence with Casbin on a random policy', () => {
    const random = prng(20_261_123);
    const int = (n: number) => Math.floor(random() * n);
    const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
    const SEGMENTS = ['apps', 'repos', 'issues', 'admin', 'billing', 'x', 'y', 'z', 'v1', 'a.b', 'team:core', ''];
    const ACTIONS = ['read', 'write', 'delete', 'approve'];

    // Roles in four levels with diamonds, users holding roles of any level, and rules whose
    // patterns mix literals, :params, trailing and inner *, a bare *, and regex characters.
    const levels = [30, 50, 70, 100].map((size, level) => Array.from({ length: size }, (_, i) => `role:l${level}-${i}`));
    const roles = levels.flat();
    const roleLinks: AccessPolicy['roleLinks'] = [];
    levels.slice(0, -1).forEach((level, l) => {
      for (const role of level) for (let k = 1 + int(3); k > 0; k--) roleLinks.push([role, pick(levels[l + 1 + int(levels.length - 1 - l)]!)]);
    });
    const users = Array.from({ length: 80 }, (_, i) => `user${i}`);
    for (const user of users) for (let k = int(4); k > 0; k--) roleLinks.push([user, pick(roles)]);

    const segment = () => pick(SEGMENTS.slice(0, -1));
    function pattern(): string {
      const shape = int(10);
      if (shape === 0) return '*';
      const parts = Array.from({ length: 1 + int(3) }, () => {
        const kind = int(8);
        return kind === 0 ? `:p${int(3)}` : kind === 1 ? '*' : segment();
      });
      let text = `/${parts.join('/')}`;
      if (shape === 1) text += '/*';
      if (shape === 2) text = text.replace(/\/\*$/, '') + '*';
      if (shape === 3) text += '/?';
      if (shape === 4) text += `|/${segment()}`;
      return text;
    }
    const permissions: AccessPolicy['permissions'] = Array.from({ length: 300 }, () => [
      random() < 0.1 ? pick(users) : pick(roles),
      pattern(),
      random() < 0.15 ? '*' : pick(ACTIONS),
    ]);
    const policy: AccessPolicy = { roleLinks, permissions };

    function object(): string {
      if (random() < 0.4) {
        // Concrete objects shaped like a rule's pattern, so a good share of requests are allowed.
        return pick(permissions)[1]
          .replace(/:[^/]+/g, () => pick(['v1', 'x', 'team:core', 'a.b', '']))
          .replace(/\*/g, () => pick(['', 'x', 'x/y', 'z/']));
      }
      return random() < 0.05 ? pick(['', '/', 'apps', '//x']) : `/${Array.from({ length: 1 + int(4) }, () => pick(SEGMENTS)).join('/')}`;
    }
    const subject = () => (random() < 0.7 ? pick(users) : random() < 0.8 ? pick(roles) : `stranger${int(5)}`);
    const requests = Array.from({ length: 3000 }, () => ({ subject: subject(), object: object(), action: random() < 0.1 ? pick(['*', 'other']) : pick(ACTIONS) }));

    it('decides every request as Casbin enforceSync does, and every allow is explained by real links and a real rule', async () => {
      const index = AccessIndex.build(policy, ACCESS_MODEL, { subjectCacheSize: 16 });
      const casbin = await casbinFor(policy);
      const links = new Set(roleLinks.map(([member, role]) => `${member}\u0000${role}`));
      const rules = new Set(permissions.map((p) => p.join('\u0000')));
      let allowed = 0;
      const mismatches: string[] = [];
      for (const r of requests) {
        const decision = index.decide(r.subject, r.object, r.action);
        const expected = casbin.enforceSync(r.subject, r.object, r.action);
        if (decision.allowed !== expected) mismatches.push(`${r.subject} ${r.action} ${JSON.stringify(r.object)}: casbin ${expected}, index ${decision.allowed}`);
        if (!decision.allowed) continue;
        allowed++;
        const path = decision.rolePath!;
        const rule = decision.rule!;
        expect(path[0]).to.equal(r.subject);
        for (let i = 1; i < path.length; i++) expect(links.has(`${path[i - 1]}\u0000${path[i]}`), `link ${path[i - 1]} -> ${path[i]}`).to.equal(true);
        expect(rules.has(rule.join('\u0000'))).to.equal(true);
        expect(rule[0]).to.equal(path.at(-1));
        expect(Util.keyMatch2Func(r.object, rule[1])).to.equal(true);
        expect(rule[2] === r.action || rule[2] === '*').to.equal(true);
      }
      expect(mismatches).to.deep.equal([]);
      // The comparison is only meaningful if both answers occur often.
      expect(allowed).to.be.within(requests.length * 0.15, requests.length * 0.85);
    });
  });
});

describe('AccessIndex.decideFor (direct items held outside the policy)', () => {
  /** The reference for decideFor: the same policy with the subject's direct items as ordinary links. */
  const withLinks = (policy: AccessPolicy, subject: string, items: readonly string[]): AccessPolicy => ({
    roleLinks: [...policy.roleLinks, ...items.map((item): [string, string] => [subject, item])],
    permissions: policy.permissions,
  });

  describe('on the engineering policy', () => {
    const index = AccessIndex.build(ENGINEERING);
    const held: Array<[subject: string, items: string[]]> = [
      ['ident-1', ['role:staff-engineer']],
      ['ident-2', ['role:auditor', 'role:engineer']],
      ['ident-3', ['role:engineer', 'role:staff-engineer']],
      ['ident-4', ['ent:github/platform', 'role:nonexistent']],
      ['ident-5', []],
      ['bob', ['role:auditor']],
      ['frank', ['role:engineer']],
      ['role:engineer', ['role:auditor']],
    ];

    for (const [subject, items] of held) {
      it(`${subject} holding [${items.join(', ')}] is decided as if linked in the policy, for every case`, async () => {
        const reference = AccessIndex.build(withLinks(ENGINEERING, subject, items));
        const casbin = await casbinFor(withLinks(ENGINEERING, subject, items));
        let allowed = 0;
        for (const [, , object, action] of CASES) {
          const decision = index.decideFor(subject, items, object, action);
          expect(decision, `${subject} ${action} ${object}`).to.deep.equal(reference.decide(subject, object, action));
          expect(decision.allowed).to.equal(casbin.enforceSync(subject, object, action));
          if (decision.allowed) allowed++;
        }
        // hold checks on each item are the same too
        for (const item of [...items, 'role:admin']) expect(index.decideFor(subject, items, item, 'hold')).to.deep.equal(reference.decide(subject, item, 'hold'));
        if (items.some((item) => item.startsWith('role:') && item !== 'role:nonexistent')) expect(allowed).to.be.greaterThan(0);
      });
    }

    it('names the subject by its label in the role path and the reason', () => {
      const decision = index.decideFor('3f0c1d2e-uuid', ['role:senior-engineer'], '/repos/iam/issues/3', 'write', 'grace');
      expect(decision.rolePath).to.deep.equal(['grace', 'role:senior-engineer', 'role:engineer']);
      expect(decision.reason).to.equal('grace -> role:senior-engineer -> role:engineer: p(role:engineer, /repos/:repo/issues/:issue, write)');
      expect(index.decideFor('3f0c1d2e-uuid', ['role:auditor'], '/repos/iam', 'read', 'grace').reason).to.equal(
        'deny by default: no role of grace (1 role held or inherited) grants read on /repos/iam',
      );
      expect(index.decideFor('3f0c1d2e-uuid', [], '/repos/iam', 'read', 'grace').reason).to.equal('deny by default: grace holds no role and no rule names it');
    });

    it('counts an item the policy does not know among the roles held, as a build would', () => {
      const decision = index.decideFor('ident-9', ['ent:slack/general', 'role:engineer'], '/audit/x', 'read');
      expect(decision.reason).to.equal('deny by default: no role of ident-9 (2 roles held or inherited) grants read on /audit/x');
    });

    it('answers from the items of each call, whatever it answered before for the same subject', () => {
      const small = AccessIndex.build(ENGINEERING, undefined, { subjectCacheSize: 4 });
      const items = ['role:engineer'];
      expect(small.decideFor('ident-c', items, '/repos/iam/merge', 'write').allowed).to.equal(false);
      expect(small.decideFor('ident-c', ['role:senior-engineer'], '/repos/iam/merge', 'write').allowed).to.equal(true);
      expect(small.decideFor('ident-c', items, '/repos/iam/merge', 'write').allowed).to.equal(false);
      // The caller changing its own array in place is a different list too.
      items[0] = 'role:staff-engineer';
      expect(small.decideFor('ident-c', items, '/repos/iam/merge', 'write').allowed).to.equal(true);
      items.pop();
      expect(small.decideFor('ident-c', items, '/repos/iam/merge', 'write').allowed).to.equal(false);
      expect(small.cachedSubjects).to.be.at.most(4);
      small.clearCache();
      expect(small.cachedSubjects).to.equal(0);
    });

    it('does not follow an item back to the subject (a link build() would refuse as a cycle)', () => {
      expect(refusal(() => AccessIndex.build(withLinks(ENGINEERING, 'role:engineer', ['role:staff-engineer']))).kind).to.equal('cycle');
      const decision = index.decideFor('role:engineer', ['role:staff-engineer', 'role:engineer'], '/repos/iam/branches/x', 'admin');
      expect(decision.rolePath).to.deep.equal(['role:engineer', 'role:staff-engineer']);
    });

    it('puts the direct items after the subject\'s own links, so equally short paths are reported as a build reports them', () => {
      const diamond: AccessPolicy = {
        roleLinks: [['u', 'role:l'], ['role:l', 'role:base'], ['role:r', 'role:base']],
        permissions: [['role:base', '/x', 'read']],
      };
      const expected = AccessIndex.build(withLinks(diamond, 'u', ['role:r'])).decide('u', '/x', 'read');
      expect(expected.rolePath).to.deep.equal(['u', 'role:l', 'role:base']);
      expect(AccessIndex.build(diamond).decideFor('u', ['role:r'], '/x', 'read')).to.deep.equal(expected);
      // and among the items, the earlier one leads
      expect(AccessIndex.build(diamond).decideFor('v', ['role:r', 'role:l'], '/x', 'read').rolePath).to.deep.equal(['v', 'role:r', 'role:base']);
    });

    it(`counts the direct link toward the ${MAX_HIERARCHY_DEPTH}-link limit, like Casbin`, async () => {
      const chain = Array.from({ length: 13 }, (_, i) => `role:level-${i}`);
      const policy: AccessPolicy = {
        roleLinks: chain.slice(1).map((role, i): [string, string] => [chain[i]!, role]),
        permissions: chain.map((role, i) => [role, `/level/${i}`, 'read']),
      };
      const index = AccessIndex.build(policy);
      const casbin = await casbinFor(withLinks(policy, 'u', [chain[0]!]));
      const answers = chain.map((_, i) => index.decideFor('u', [chain[0]!], `/level/${i}`, 'read').allowed);
      expect(answers).to.deep.equal(chain.map((_, i) => casbin.enforceSync('u', `/level/${i}`, 'read')));
      expect(answers.filter(Boolean)).to.have.length(MAX_HIERARCHY_DEPTH);
    });
  });

  describe('on random policies, against a build with the links and against Casbin', () => {
    const random = prng(20_261_207);
    const int = (n: number) => Math.floor(random() * n);
    const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
    const ACTIONS = ['read', 'write', 'delete', 'hold'];
    const SEGMENTS = ['apps', 'repos', 'issues', 'billing', 'x', 'y', 'v1'];

    // Roles in three levels with diamonds and a few deep chains; base users with links of their own.
    const levels = [20, 40, 60].map((size, level) => Array.from({ length: size }, (_, i) => `role:l${level}-${i}`));
    const roles = levels.flat();
    const roleLinks: AccessPolicy['roleLinks'] = [];
    levels.slice(0, -1).forEach((level, l) => {
      for (const role of level) for (let k = 1 + int(3); k > 0; k--) roleLinks.push([role, pick(levels[l + 1 + int(levels.length - 1 - l)]!)]);
    });
    const entitlements = Array.from({ length: 30 }, (_, i) => `ent:t${i % 3}/e${i}`);
    for (const e of entitlements) roleLinks.push([pick(roles), e]);
    const users = Array.from({ length: 20 }, (_, i) => `user${i}`);
    for (const user of users) for (let k = int(3); k > 0; k--) roleLinks.push([user, pick(roles)]);
    const pattern = () => {
      const parts = Array.from({ length: 1 + int(3) }, () => (int(5) === 0 ? `:p${int(2)}` : int(6) === 0 ? '*' : pick(SEGMENTS)));
      return int(12) === 0 ? '*' : `/${parts.join('/')}${int(4) === 0 ? '/*' : ''}`;
    };
    const permissions: AccessPolicy['permissions'] = [
      ...[...roles, ...entitlements].map((item): [string, string, string] => [item, item, 'hold']),
      ...Array.from({ length: 250 }, (): [string, string, string] => [random() < 0.05 ? pick(users) : pick(roles), pattern(), random() < 0.1 ? '*' : pick(ACTIONS)]),
    ];
    const policy: AccessPolicy = { roleLinks, permissions };

    const directItems = (): string[] => Array.from({ length: int(5) }, () => {
      const kind = random();
      return kind < 0.7 ? pick(roles) : kind < 0.9 ? pick(entitlements) : `ent:unknown/e${int(3)}`;
    });
    // Identities outside the policy, and base users, each holding a random list (duplicates included).
    const holders = [...Array.from({ length: 60 }, (_, i) => `ident-${i}`), ...users].map((subject) => ({ subject, items: directItems() }));
    const object = (): string => {
      const kind = random();
      if (kind < 0.15) return pick([...roles, ...entitlements]);
      if (kind < 0.6) return pick(permissions)[1].replace(/:[^/]+/g, () => pick(SEGMENTS)).replace(/\*/g, () => pick(['', 'x', 'x/y']));
      return `/${Array.from({ length: 1 + int(3) }, () => pick(SEGMENTS)).join('/')}`;
    };
    const requests = Array.from({ length: 2500 }, () => {
      const holder = pick(holders);
      const action = object();
      return { ...holder, object: action, action: action.startsWith('/') || action === '*' ? pick(ACTIONS) : 'hold' };
    });

    it('decides every request exactly as decide() does on a policy holding the direct links, and as Casbin does', async () => {
      const index = AccessIndex.build(policy, ACCESS_MODEL, { subjectCacheSize: 32 });
      // No item is a holder, so one combined policy stands for every holder's links at once.
      const combined: AccessPolicy = { roleLinks: [...roleLinks, ...holders.flatMap(({ subject, items }) => items.map((item): [string, string] => [subject, item]))], permissions };
      const reference = AccessIndex.build(combined);
      const casbin = await casbinFor(combined);
      const mismatches: string[] = [];
      let allowed = 0;
      for (const r of requests) {
        const decision = index.decideFor(r.subject, r.items, r.object, r.action);
        const expected = reference.decide(r.subject, r.object, r.action);
        if (JSON.stringify(decision) !== JSON.stringify(expected)) mismatches.push(`${r.subject} ${r.action} ${r.object}: ${decision.reason} | expected ${expected.reason}`);
        if (decision.allowed !== casbin.enforceSync(r.subject, r.object, r.action)) mismatches.push(`${r.subject} ${r.action} ${r.object}: Casbin disagrees`);
        if (decision.allowed) allowed++;
      }
      expect(mismatches).to.deep.equal([]);
      expect(allowed).to.be.within(requests.length * 0.15, requests.length * 0.85);
    });

    it('decides the same with a view slot per holder, and fills a slot again when the items or the index are others', () => {
      const index = AccessIndex.build(policy);
      const combined: AccessPolicy = { roleLinks: [...roleLinks, ...holders.flatMap(({ subject, items }) => items.map((item): [string, string] => [subject, item]))], permissions };
      const reference = AccessIndex.build(combined);
      const slots = new Map(holders.map(({ subject }) => [subject, {} as ViewSlot]));
      const roleCounts = new Set<number>();
      for (const r of requests) {
        const expected = reference.decide(r.subject, r.object, r.action);
        expect(index.decideFor(r.subject, r.items, r.object, r.action, r.subject, slots.get(r.subject)), `${r.subject} ${r.action} ${r.object}`).to.deep.equal(expected);
        const held = /\((\d+) roles? held or inherited\)/.exec(expected.reason);
        if (held) roleCounts.add(Number(held[1]));
      }
      // Both ways of searching a view ran: short views are scanned, long ones probed through their map.
      expect(Math.min(...roleCounts)).to.be.at.most(4);
      expect(Math.max(...roleCounts)).to.be.greaterThan(20);

      // Other items for a slot: decided on those, as a build linking them would.
      const { subject } = holders.find((h) => h.items.length > 0)!;
      const slot = slots.get(subject)!;
      // Top-level roles, which inherit others: the case where a stale view would answer wrongly below.
      const others = [levels[0]![0]!, levels[0]![1]!];
      const withOthers = AccessIndex.build(withLinks(policy, subject, others));
      for (const r of requests.slice(0, 300)) {
        expect(index.decideFor(subject, others, r.object, r.action, subject, slot)).to.deep.equal(withOthers.decide(subject, r.object, r.action));
      }
      // Another index, where roles inherit nothing: the view the slot holds from the first one is not used.
      const flat: AccessPolicy = { roleLinks: [], permissions };
      const flatIndex = AccessIndex.build(flat);
      const flatWithOthers = AccessIndex.build(withLinks(flat, subject, others));
      let differ = 0;
      for (const item of [...roles, ...entitlements]) {
        const decision = flatIndex.decideFor(subject, others, item, 'hold', subject, slot);
        expect(decision).to.deep.equal(flatWithOthers.decide(subject, item, 'hold'));
        if (decision.allowed !== withOthers.decide(subject, item, 'hold').allowed) differ++;
      }
      expect(differ, 'requests the two indexes answer differently').to.be.greaterThan(0);
    });

    it('decides a role asked about with extra items as a build with those links would, request by request', () => {
      const index = AccessIndex.build(policy, undefined, { subjectCacheSize: 8 });
      let compared = 0;
      let cycles = 0;
      for (let i = 0; i < 300; i++) {
        const subject = pick(roles);
        const items = directItems();
        let reference: AccessIndex;
        try {
          reference = AccessIndex.build(withLinks(policy, subject, items));
        } catch (err) {
          expect((err as AccessPolicyError).kind).to.equal('cycle');
          cycles++;
          continue;
        }
        for (let k = 0; k < 5; k++) {
          const target = object();
          const action = target.startsWith('/') || target === '*' ? pick(ACTIONS) : 'hold';
          expect(index.decideFor(subject, items, target, action), `${subject} [${items.join(', ')}] ${action} ${target}`).to.deep.equal(reference.decide(subject, target, action));
          compared++;
        }
      }
      expect(compared).to.be.greaterThan(1000);
      expect(cycles).to.be.lessThan(150);
    });
  });
});
