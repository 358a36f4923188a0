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

const HEX = Buffer.from('0123456789abcdef', 'latin1');
// One id's 16 bytes and its 36 characters, reused: the text is made in one piece, since an id
// joined from parts is a tree of string pieces that stays that size for as long as it is kept.
const raw = Buffer.alloc(16);
const text = Buffer.alloc(36);

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
  raw.writeUIntBE(ms, 0, 6);
  raw[6] = 0x70 | (counter >> 8);
  raw[7] = counter & 0xff;
  randomEight().copy(raw, 8);
  raw[8] = (raw[8]! & 0x3f) | 0x80;
  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d;
    text[at++] = HEX[raw[i]! >> 4]!;
    text[at++] = HEX[raw[i]! & 0x0f]!;
  }
  return text.toString('latin1');
}
