/** Keys whose values never reach the audit trail or the logs. */
const SECRET_KEY = /pass(word)?|secret|token|authorization|credential|api[-_]?key|private[-_]?key/i;

/** Returns a deep copy of `value` with every secret-looking field replaced by "[masked]". */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? '[masked]' : maskSecrets(v);
    return out;
  }
  return value;
}
