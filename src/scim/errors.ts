import SCIMMY from 'scimmy';

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The scimType values of RFC 7644 §3.12. */
export type ScimType =
  | 'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax'
  | 'invalidPath' | 'noTarget' | 'invalidValue' | 'invalidVers' | 'sensitive';

/** The one error type SCIM handlers raise; the error middleware renders it as a SCIM error body. */
export class ScimError extends Error {
  constructor(readonly status: number, readonly scimType: ScimType | undefined, detail: string) {
    super(detail);
    this.name = 'ScimError';
  }

  /** The RFC 7644 §3.12 response body. */
  toBody(): Record<string, unknown> {
    return { schemas: [ERROR_SCHEMA], status: String(this.status), ...(this.scimType ? { scimType: this.scimType } : {}), detail: this.message };
  }
}

/**
 * The ScimError a failure anywhere in a SCIM request stands for, or undefined for an unexpected
 * fault. Plain TypeErrors are not the client's mistake here: outside scimmy's validation (which
 * fromScimmy converts where it is called) they are server bugs, to be logged and answered 500.
 */
export function clientError(err: unknown): ScimError | undefined {
  if (err instanceof ScimError) return err;
  if (err instanceof SCIMMY.Types.Error) {
    const e = err as InstanceType<typeof SCIMMY.Types.Error> & { status: number; scimType?: ScimType };
    return new ScimError(e.status, e.scimType, e.message);
  }
  return undefined;
}

/**
 * Converts what scimmy throws while validating a resource into a ScimError: its own errors keep
 * their status and type; its TypeErrors are schema validation failures, the client's mistake.
 */
export function fromScimmy(err: unknown): ScimError | undefined {
  const known = clientError(err);
  if (known) return known;
  if (err instanceof TypeError) {
    const mutability = /readOnly|immutable|mutability/i.test(err.message);
    return new ScimError(400, mutability ? 'mutability' : 'invalidValue', err.message);
  }
  return undefined;
}
