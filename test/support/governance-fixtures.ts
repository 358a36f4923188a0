/*
 * Factories for governance tests: people (with a manager, a department, an email or none),
 * targets, entitlements, roles, SoD rules and directory groups, written through the same
 * services the server uses. Names get a suffix unique to the fixtures object, so suites sharing
 * a database never collide.
 */
import { randomBytes } from 'node:crypto';
import type { AppServices } from '../../src/http/app.js';
import type { ChangeContext } from '../../src/identity/resources.js';
import type { EntitlementInput, RoleInput, SodRuleInput } from '../../src/policy/model.js';
import { ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA } from './scim-client.js';

/** A person the fixtures made. */
export interface Person {
  id: string;
  userName: string;
  /** undefined for a person made with `email: null` */
  email: string | undefined;
}

/** What createPerson takes; everything has a default. */
export interface PersonOptions {
  /** the local part of the userName (made unique); default `p<n>` */
  userName?: string;
  /** a Person or an identity id */
  manager?: Person | string;
  department?: string;
  /** the work address; null: the person has none (and gets no mail) */
  email?: string | null;
  displayName?: string;
  userType?: string;
  active?: boolean;
}

const CTX: ChangeContext = { actor: 'test:fixtures' };

/** An owner as the policy stores it: a Person by userName, anything else as given. */
const ownerName = (owner: Person | string | null | undefined) => (typeof owner === 'object' && owner !== null ? owner.userName : owner);

/** The services the fixtures write through. */
export type FixtureServices = Pick<AppServices, 'identities' | 'policyStore' | 'groups'>;

/** Factories over one set of services; `suffix` makes every name unique to this object. */
export function governanceFixtures(services: FixtureServices, suffix = randomBytes(3).toString('hex')) {
  let people = 0;
  const fixtures = {
    suffix,

    /** The userName a person made with `userName: local` gets. */
    userNameOf(local: string): string {
      return `${local}.${suffix}@example.com`;
    },

    /** A person, active unless told otherwise, with a manager when given. */
    async createPerson(options: PersonOptions = {}): Promise<Person> {
      const local = options.userName ?? `p${++people}`;
      const userName = fixtures.userNameOf(local);
      const email = options.email === null ? undefined : options.email ?? userName;
      const managerId = typeof options.manager === 'string' ? options.manager : options.manager?.id;
      const created = await services.identities.create({
        schemas: [USER_SCHEMA, ENTERPRISE],
        userName,
        displayName: options.displayName ?? `${local} ${suffix}`,
        name: { givenName: local, familyName: suffix },
        userType: options.userType ?? 'Employee',
        active: options.active ?? true,
        ...(email !== undefined && { emails: [{ value: email, type: 'work', primary: true }] }),
        [ENTERPRISE]: {
          ...(options.department !== undefined && { department: options.department }),
          ...(managerId !== undefined && { manager: { value: managerId } }),
        },
      }, CTX);
      return { id: created.id, userName, email };
    },

    /** A target of type other. */
    async createTarget(name: string): Promise<void> {
      await services.policyStore.putTarget({ name, type: 'other' }, CTX);
    },

    /** An entitlement (requestable unless told otherwise). */
    async createEntitlement(input: EntitlementInput): Promise<string> {
      await services.policyStore.putEntitlement(input, CTX);
      return `ent:${input.target}/${input.key}`;
    },

    /** A role (requestable unless told otherwise); `owner` may be a Person. */
    async createRole(input: Omit<RoleInput, 'owner'> & { owner?: Person | string | null }): Promise<string> {
      const owner = ownerName(input.owner);
      await services.policyStore.putRole({ requestable: true, ...input, ...(owner !== undefined && { owner }) }, CTX);
      return `role:${input.name}`;
    },

    /** An SoD rule; `owner` may be a Person. */
    async createSodRule(input: Omit<SodRuleInput, 'owner'> & { owner?: Person | string | null }): Promise<string> {
      const owner = ownerName(input.owner);
      await services.policyStore.putSodRule({ ...input, ...(owner !== undefined && { owner }) }, CTX);
      return input.name;
    },

    /** A directory group with these members; returns its displayName. */
    async createGroup(displayName: string, members: Person[]): Promise<string> {
      await services.groups.create({ schemas: [GROUP_SCHEMA], displayName }, members.map((m) => m.id), CTX);
      return displayName;
    },
  };
  return fixtures;
}

export type GovernanceFixtures = ReturnType<typeof governanceFixtures>;
