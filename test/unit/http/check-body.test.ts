import { expect } from 'chai';
import { authzRoutes } from '../../../src/http/api/routes/authz.js';
import type { ApiDeps } from '../../../src/http/api/deps.js';
import { prng } from '../../support/prng.js';

describe('POST /authz/check: the plain-check shortcut past the body schema', () => {
  const [route] = authzRoutes({ config: { api: { maxBatchChecks: 1000 } } } as unknown as ApiDeps);
  const random = prng(20_261_124);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const text = (length: number) => 'aZ/é-'.repeat(Math.ceil(length / 5)).slice(0, length);
  const value = (): unknown => pick([
    () => text(pick([0, 1, 2, 128, 129, 255, 256, 1024, 1025])),
    () => int(10),
    () => null,
    () => undefined,
    () => [text(3)],
    () => ({ time: '2026-01-01T00:00:00Z' }),
    () => true,
  ])();
  const body = (): unknown => {
    const shape = random();
    if (shape < 0.05) return pick([null, 'text', 7, [], [{ subject: 'a', object: 'b', action: 'c' }]]);
    const fields: Record<string, unknown> = {};
    for (const key of ['subject', 'object', 'action']) {
      // Mostly well-formed strings, so both sides of every limit are reached often.
      if (random() < 0.85) fields[key] = random() < 0.8 ? text(1 + int(40)) : value();
    }
    if (random() < 0.1) fields.context = random() < 0.5 ? {} : { time: pick(['2026-01-01T00:00:00Z', 'yesterday']) };
    if (random() < 0.05) fields[pick(['checks', 'extra', '__proto__', 'Subject'])] = value();
    // Keys arrive in any order from a client.
    return random() < 0.3 ? Object.fromEntries(Object.entries(fields).reverse()) : fields;
  };

  it('accepts only bodies the schema accepts and returns unchanged, and leaves the rest to the schema', () => {
    expect(route!.acceptsBody).to.be.a('function');
    let taken = 0;
    let leftToSchema = 0;
    for (let i = 0; i < 20_000; i++) {
      const candidate = JSON.parse(JSON.stringify(body() ?? null)) as unknown;
      const parsed = route!.body!.safeParse(candidate);
      if (route!.acceptsBody!(candidate)) {
        taken++;
        expect(parsed.success, JSON.stringify(candidate)).to.equal(true);
        expect(parsed.data, JSON.stringify(candidate)).to.deep.equal(candidate);
      } else if (parsed.success) {
        leftToSchema++;
      }
    }
    // Both paths are exercised: the common shape taken at once, valid rarer shapes (a context) parsed.
    expect(taken).to.be.greaterThan(3000);
    expect(leftToSchema).to.be.greaterThan(100);
  });

  it('refuses the shortcut for a key JSON can smuggle in, such as __proto__', () => {
    const smuggled = JSON.parse('{"subject":"a","object":"b","action":"c","__proto__":{"x":1}}') as unknown;
    expect(route!.acceptsBody!(smuggled)).to.equal(false);
    expect(route!.body!.safeParse(smuggled).success).to.equal(false);
  });
});
