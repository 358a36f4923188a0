/** Failures of the identity write path, named by kind; each edge (SCIM, REST, CLI) renders them its own way. */
export class IdentityError extends Error {
  constructor(readonly kind: 'notFound' | 'conflict' | 'preconditionFailed' | 'invalid', message: string) {
    super(message);
    this.name = 'IdentityError';
  }
}

export const notFound = (what: string, id: string) => new IdentityError('notFound', `${what} ${id} not found`);
