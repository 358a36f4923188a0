import { randomFillSync } from 'node:crypto';

/*
 * Time-ordered ids (UUID version 7, RFC 9562): a millisecond timestamp, then a counter, then
 * random bits. Rows inserted together get neighbouring ids, so B-tree indexes on them (the
 * primary key, and every identity_id index of grants, accounts, outbox, values) grow at their
 * right edge instead of dirtying pages all over the tree: a 100,000-person import writes a
 * fraction of the pages random ids would. The timestamp reveals only when the row was made,
 * which its `created` column says anyway.
 */

let lastMs = 0;
let counter = 0;
// Random bytes drawn 8 KB at a time: one system call per thousand ids rather than per id.
const pool = Buffer.alloc(8192);
let poolAt = pool.length;

function randomEight(): Buffer {
  if (poolAt + 8 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += 8;
  return pool.subarray(poolAt - 8, poolAt);
}

/** A new UUIDv7; ids made by this process sort in the order they were made. */
export function timeOrderedId(): string {
  let ms = Date.now();
  if (ms <= lastMs) {
    // Same millisecond (or the clock stepped back): keep order with the 12-bit counter, and
    // borrow the next millisecond when it runs out.
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      ms = ++lastMs;
      counter = 0;
    }
  } else {
    lastMs = ms;
    counter = 0;
  }
  const random = randomEight();
  const hex = ms.toString(16).padStart(12, '0');
  const variant = ((random[0]! & 0x3f) | 0x80).toString(16).padStart(2, '0');
  const tail = random.subarray(1).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${counter.toString(16).padStart(3, '0')}-${variant}${tail.slice(0, 2)}-${tail.slice(2, 14)}`;
}
