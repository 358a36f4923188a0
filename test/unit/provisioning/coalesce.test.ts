import { expect } from 'chai';
import { AccountQueue, type QueuedOperation } from '../../../src/provisioning/coalesce.js';
import type { AccountAttributes, Operation } from '../../../src/provisioning/connector.js';

const NOW = '2026-01-01T00:00:00.000Z';
const LATER = '2026-02-01T00:00:00.000Z';
const attrs = (userName: string): AccountAttributes => ({ userName, extra: {} });
const create = (memberships: string[] = [], enabled = true): Operation => ({ op: 'create', attributes: attrs('a'), enabled, memberships });
const add = (entitlement: string): Operation => ({ op: 'add-membership', entitlement });
const remove = (entitlement: string): Operation => ({ op: 'remove-membership', entitlement });
let nextId = 1;
const existing = (operation: Operation, unstarted = true, notBefore = NOW): QueuedOperation => ({ id: nextId++, operation, notBefore, unstarted });

/** The live queue after pushing `ops`, as operation names (with the entitlement or flag that matters). */
function after(start: QueuedOperation[], ops: Operation[]): string[] {
  const queue = new AccountQueue(start);
  for (const op of ops) queue.push(op, op.op === 'delete' ? LATER : NOW);
  return queue.operations().map(({ operation: o }) => {
    if (o.op === 'create') return `create(${o.enabled ? 'enabled' : 'disabled'};${o.memberships.join(',')};${o.attributes.userName})`;
    if (o.op === 'add-membership' || o.op === 'remove-membership') return `${o.op} ${o.entitlement}`;
    if (o.op === 'update') return `update ${o.attributes.userName}`;
    return o.op;
  });
}

describe('outbox coalescing (AccountQueue)', () => {
  // Each case: the unstarted queue, then the new operations, then what must be left.
  const cases: Array<[string, Operation[], string[]]> = [
    ['create + disable → a disabled create', [create(['x']), { op: 'disable' }], ['create(disabled;x;a)']],
    ['create(disabled) + enable → an enabled create', [create([], false), { op: 'enable' }], ['create(enabled;;a)']],
    ['create + update → the create with the new attributes', [create(), { op: 'update', attributes: attrs('b') }], ['create(enabled;;b)']],
    ['create + add/remove membership → the create\'s list', [create(['x']), add('y'), remove('x')], ['create(enabled;y;a)']],
    ['create + delete → nothing', [create(['x']), add('y'), { op: 'delete' }], []],
    ['disable + enable → nothing', [{ op: 'disable' }, { op: 'enable' }], []],
    ['enable + disable → nothing', [{ op: 'enable' }, { op: 'disable' }], []],
    ['add X + remove X → nothing', [add('x'), remove('x')], []],
    ['remove X + add X → nothing', [remove('x'), add('x')], []],
    ['add X + remove Y stays', [add('x'), remove('y')], ['add-membership x', 'remove-membership y']],
    ['update + update → one update with the newer attributes', [{ op: 'update', attributes: attrs('b') }, { op: 'update', attributes: attrs('c') }], ['update c']],
    ['delete (future) + enable → the delete cancelled', [{ op: 'delete' }, { op: 'enable' }], ['enable']],
    ['a leaver rehired before anything ran → nothing',
      [{ op: 'disable' }, remove('x'), { op: 'delete' }, { op: 'enable' }, add('x')], []],
  ];
  for (const [title, ops, expected] of cases) {
    it(title, () => {
      expect(after([], ops)).to.deep.equal(expected);
    });
  }

  it('never merges into or cancels an operation that has started', () => {
    const running = existing(create(['x']), false);
    expect(after([running], [add('y'), { op: 'disable' }])).to.deep.equal(['create(enabled;x;a)', 'add-membership y', 'disable']);
    const retried = existing({ op: 'disable' }, false);
    expect(after([retried], [{ op: 'enable' }])).to.deep.equal(['disable', 'enable']);
    const dead = existing(add('x'), false);
    expect(after([dead], [remove('x')])).to.deep.equal(['add-membership x', 'remove-membership x']);
  });

  it('reports cancelled and rewritten rows by id and new rows in order', () => {
    const c = existing(create(['x']));
    const d = existing({ op: 'disable' });
    const queue = new AccountQueue([existing(create(), false), d]);
    queue.push({ op: 'enable' }, NOW);
    queue.push(add('z'), NOW);
    expect(queue.changes()).to.deep.equal({ cancelled: [d.id], changed: [], added: [{ operation: add('z'), notBefore: NOW }] });

    const merged = new AccountQueue([c]);
    merged.push({ op: 'disable' }, NOW);
    expect(merged.changes()).to.deep.equal({ cancelled: [], changed: [{ id: c.id, operation: create(['x'], false) }], added: [] });
  });

  it('cancels a scheduled delete on request, but not one that has started', () => {
    const scheduled = existing({ op: 'delete' }, true, LATER);
    const queue = new AccountQueue([scheduled]);
    expect(queue.pendingDelete()?.id).to.equal(scheduled.id);
    expect(queue.cancel(queue.pendingDelete()!)).to.equal(true);
    expect(queue.changes().cancelled).to.deep.equal([scheduled.id]);

    const started = new AccountQueue([existing({ op: 'delete' }, false)]);
    expect(started.pendingDelete()).to.equal(undefined);
    expect(started.deleteStarted()).to.equal(true);
  });
});
