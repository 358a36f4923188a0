/*
 * Matching an account found on a target to an identity, by the target's correlation rules
 * (LDAP uid or mail, GitHub login or email, Slack userName or email): the account's value of the
 * rule's target attribute equals the identity's value of the rule's identity attribute, compared
 * without case (all three targets treat these names case-insensitively). Rules are tried in
 * order; a value two identities share matches neither, since guessing would give one person
 * another's account.
 *
 * The index is read once per run, a page of identities at a time, and only when some account
 * did not match by its key: a target already provisioned from here matches by key throughout.
 */
import type { Sql } from '../../db/database.js';
import { identityValue } from '../attribute-mapping.js';
import type { CorrelationRule, TargetAccount } from '../connector.js';
import { accountAttributes } from '../planner.js';

const PAGE = 1000;
/** Marks a value more than one identity has. */
const AMBIGUOUS = '';

export class CorrelationIndex {
  private constructor(private readonly rules: readonly CorrelationRule[], private readonly byRule: ReadonlyArray<Map<string, string>>) {}

  /** Reads every identity's attributes (SCIM document and HR extras) into one map per rule. */
  static async read(sql: Sql, rules: readonly CorrelationRule[]): Promise<CorrelationIndex> {
    const byRule = rules.map(() => new Map<string, string>());
    for (let after = '';;) {
      const rows = await sql.query<{ id: string; doc: string; extra: string | null }>(
        `SELECT i.id, i.doc, l.extra FROM identities i LEFT JOIN identity_lifecycle l ON l.identity_id = i.id
          WHERE i.id > ? ORDER BY i.id LIMIT ${PAGE}`, [after]);
      if (rows.length === 0) break;
      for (const row of rows) {
        const attributes = accountAttributes(JSON.parse(row.doc) as Record<string, unknown>, row.extra ? (JSON.parse(row.extra) as Record<string, string>) : {});
        rules.forEach((rule, i) => {
          const value = identityValue(attributes, rule.identity)?.toLowerCase();
          if (value === undefined) return;
          const map = byRule[i]!;
          map.set(value, map.has(value) ? AMBIGUOUS : row.id);
        });
      }
      after = rows[rows.length - 1]!.id;
    }
    return new CorrelationIndex(rules, byRule);
  }

  /** The identity this account belongs to by the first rule that matches, or undefined. */
  identityOf(account: TargetAccount): string | undefined {
    for (let i = 0; i < this.rules.length; i++) {
      const value = account.attributes[this.rules[i]!.target]?.toLowerCase();
      if (value === undefined || value === '') continue;
      const id = this.byRule[i]!.get(value);
      if (id) return id;
    }
    return undefined;
  }
}
