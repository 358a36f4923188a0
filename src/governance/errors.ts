/** A governance action refused: unknown request or item, not allowed for this person, not in this state, or breaking SoD. */
export class GovernanceError extends Error {
  constructor(
    readonly kind: 'notFound' | 'invalid' | 'forbidden' | 'conflict' | 'sod',
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'GovernanceError';
  }
}
