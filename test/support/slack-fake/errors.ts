/*
 * Errors as Slack's SCIM 2.0 API answers them (its reference, "Example error"):
 * `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "detail": "missing_schema_element", "status": 400}`,
 * the detail being one of the error codes the reference lists. `violation` marks a request the
 * reference forbids (a malformed body, an unknown attribute): those are bugs in the client,
 * recorded so a test can insist there were none. Conflicts, unknown ids and bad tokens are not:
 * a correct client meets them too.
 */
export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export class ScimError extends Error {
  constructor(readonly status: number, readonly detail: string, readonly violation: string | null = null) {
    super(detail);
  }
}

/** A request the documentation forbids: answered with `detail`, and recorded with `why`. */
export function forbidden(detail: string, why: string, status = 400): ScimError {
  return new ScimError(status, detail, why);
}

/** The body of an error answer. */
export function errorBody(status: number, detail: string): Record<string, unknown> {
  return { schemas: [SCIM_ERROR_SCHEMA], detail, status };
}
