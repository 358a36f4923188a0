/*
 * Reports for auditors, as CSV streamed in constant memory:
 * - access: who holds what, why, since when and granted by whom. One row per identity, item
 *   reached and the grant that reaches it: a role grant gives a row for the role and one for each
 *   role and entitlement it gives (catalog.closure), with the path in `via`. An item reached
 *   through two grants has two rows, one per reason, so revoking either shows what remains.
 *   Identities are read in keyset batches by userName, so the file is in userName order.
 * - SoD violations: the violations report GET /sod/violations shows (SodService.report), one row each.
 * Cells are written by csvLine, which guards against formulas (see csv.ts).
 */
import { chunks, placeholders } from '../db/batches.js';
import type { Database } from '../db/database.js';
import { CatalogCache } from '../policy/catalog.js';
import { GRANT_COLUMNS, inForceAt, type GrantRow } from '../policy/grants.js';
import { SodService } from '../policy/sod.js';
import { ENTERPRISE_SCHEMA } from '../scim/schema.js';
import { csvLine } from './csv.js';

/** The columns of access-report.csv. */
export const ACCESS_REPORT_COLUMNS = ['userName', 'displayName', 'department', 'item', 'via', 'source', 'sourceRef', 'grantedBy', 'since', 'validUntil'] as const;

/** The columns of sod-violations.csv. */
export const SOD_REPORT_COLUMNS = ['rule', 'severity', 'userName', 'identityId', 'left', 'right', 'excepted', 'exceptionId'] as const;

/** Identities per batch. */
const IDENTITY_BATCH = 500;

interface IdentityRow {
  id: string;
  user_name: string;
  display_label: string | null;
  department: string | null;
  doc: string;
}

/** userName and department as HR wrote them (the columns hold the lowercased comparison forms). */
function asWritten(row: IdentityRow): { userName: string; department: string | null } {
  try {
    const doc = JSON.parse(row.doc) as { userName?: unknown; [ENTERPRISE_SCHEMA]?: { department?: unknown } };
    const department = doc[ENTERPRISE_SCHEMA]?.department;
    return {
      userName: typeof doc.userName === 'string' ? doc.userName : row.user_name,
      department: typeof department === 'string' ? department : row.department,
    };
  } catch {
    return { userName: row.user_name, department: row.department };
  }
}

/** What the access report is told. */
export interface AccessReportOptions {
  /** grants in force at this time (default now) */
  now?: Date;
  /** hears the number of identities read so far */
  onProgress?: (identities: number) => void;
}

/** The access report as CSV, a chunk per batch of identities, header first. */
export async function* accessReportCsv(db: Database, options: AccessReportOptions = {}): AsyncGenerator<string> {
  yield csvLine(ACCESS_REPORT_COLUMNS);
  const { catalog } = await CatalogCache.of(db).read(db);
  const inForce = inForceAt(options.now ?? new Date());
  let after = '';
  let read = 0;
  for (;;) {
    const identities = await db.query<IdentityRow>(
      `SELECT id, user_name, display_label, department, doc FROM identities WHERE user_name > ? ORDER BY user_name LIMIT ${IDENTITY_BATCH}`, [after]);
    if (identities.length === 0) return;
    const grants = new Map<string, GrantRow[]>();
    for (const chunk of chunks(identities.map((i) => i.id))) {
      const rows = await db.query<GrantRow>(
        `SELECT ${GRANT_COLUMNS} FROM grants WHERE identity_id IN (${placeholders(chunk.length)}) AND ${inForce.sql}`, [...chunk, ...inForce.params]);
      for (const row of rows) {
        const list = grants.get(row.identity_id);
        if (list) list.push(row);
        else grants.set(row.identity_id, [row]);
      }
    }
    let out = '';
    for (const identity of identities) {
      const held = grants.get(identity.id);
      if (!held) continue;
      const { userName, department } = asWritten(identity);
      const lines: Array<{ key: string; line: string }> = [];
      for (const grant of held) {
        for (const reached of catalog.closure(grant.item)) {
          const via = reached.path.join(' > ');
          lines.push({
            key: `${reached.item}\u0000${via}\u0000${grant.source}\u0000${grant.source_ref}`,
            line: csvLine([userName, identity.display_label, department, reached.item, via, grant.source, grant.source_ref, grant.granted_by,
              grant.valid_from ?? grant.created, grant.valid_until]),
          });
        }
      }
      lines.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const l of lines) out += l.line;
    }
    read += identities.length;
    options.onProgress?.(read);
    if (out !== '') yield out;
    after = identities[identities.length - 1]!.user_name;
    if (identities.length < IDENTITY_BATCH) return;
  }
}

/** The SoD violations report as CSV, header first: the same violations GET /sod/violations lists. */
export async function* sodViolationsCsv(db: Database, sod: SodService = new SodService(db)): AsyncGenerator<string> {
  yield csvLine(SOD_REPORT_COLUMNS);
  const { catalog } = await CatalogCache.of(db).read(db);
  const violations = await sod.report(catalog);
  let out = '';
  for (const v of violations) {
    out += csvLine([v.rule, v.severity, v.userName ?? null, v.identityId, v.left.join(' '), v.right.join(' '), v.excepted ? 'yes' : 'no', v.exceptionId ?? null]);
    if (out.length > 1 << 20) {
      yield out;
      out = '';
    }
  }
  if (out !== '') yield out;
}
