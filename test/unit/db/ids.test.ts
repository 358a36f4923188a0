import { expect } from 'chai';
import { timeOrderedId } from '../../../src/db/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('timeOrderedId', () => {
  it('makes RFC 9562 version-7 UUIDs that sort in the order they were made, even within one millisecond', () => {
    const ids = Array.from({ length: 20_000 }, () => timeOrderedId());
    for (const id of ids) expect(id).to.match(UUID_V7);
    expect(new Set(ids).size).to.equal(ids.length);
    expect([...ids].sort()).to.deep.equal(ids);
  });

  it('carries the creation time in its first 48 bits', () => {
    const before = Date.now();
    const id = timeOrderedId();
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    // The counter may borrow a few milliseconds ahead after a burst, never more than a handful.
    expect(ms).to.be.within(before, Date.now() + 50);
  });
});
