/*
 * Which identity attribute becomes which target attribute. Each connector has a default mapping
 * and a target's config may replace it (`targets.<name>.attributes`): keys are the target's
 * attribute names, values are AccountAttributes paths (`userName`, `givenName`, `familyName`,
 * `displayName`, `email`, `employeeId`, or `extra.<name>` for an HR attribute such as
 * `extra.githubLogin`). Correlation rules name identity attributes the same way.
 */
import { z } from 'zod';
import type { AccountAttributes, CorrelationRule } from './connector.js';

const IDENTITY_PATHS = ['userName', 'givenName', 'familyName', 'displayName', 'email', 'employeeId'] as const;

/** An AccountAttributes path, checked when config is read so a typo stops the start. */
export const identityPath = z.string().refine(
  (p) => (IDENTITY_PATHS as readonly string[]).includes(p) || /^extra\.[A-Za-z0-9_-]+$/.test(p),
  { message: `must be one of ${IDENTITY_PATHS.join(', ')} or extra.<name>` },
);

/** targets.<name>.attributes: target attribute → identity attribute. */
export const attributeMappingSchema = z.record(z.string().min(1), identityPath);
export type AttributeMapping = Readonly<Record<string, string>>;

/** targets.<name>.correlate: the rules reconciliation matches with, in order. */
export const correlationSchema = z.array(z.object({ target: z.string().min(1), identity: identityPath })).min(1);

/**
 * The `attributes` and `correlate` settings of a connector whose target has a fixed set of
 * attributes (GitHub, Slack): a mapping or rule naming another is refused when config is read.
 */
export function mappingSettings(targetAttributes: readonly string[]) {
  const known = (name: string) => targetAttributes.includes(name);
  const list = targetAttributes.join(', ');
  return {
    attributes: attributeMappingSchema
      .refine((m) => Object.keys(m).every(known), { message: `target attributes must be among ${list}` })
      .optional(),
    correlate: correlationSchema
      .refine((rules) => rules.every((r) => known(r.target)), { message: `correlation targets must be among ${list}` })
      .optional(),
  };
}

/** The value of an AccountAttributes path, or undefined when the identity has none. */
export function identityValue(attributes: AccountAttributes, path: string): string | undefined {
  const value = path.startsWith('extra.') ? attributes.extra[path.slice(6)] : attributes[path as (typeof IDENTITY_PATHS)[number]];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The target attributes for these identity attributes; an attribute the identity lacks is left out. */
export function mapAttributes(mapping: AttributeMapping, attributes: AccountAttributes): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [targetName, path] of Object.entries(mapping)) {
    const value = identityValue(attributes, path);
    if (value !== undefined) out[targetName] = value;
  }
  return out;
}

/** Rules as a connector exposes them, from settings or its default. */
export function correlationRules(configured: CorrelationRule[] | undefined, fallback: readonly CorrelationRule[]): readonly CorrelationRule[] {
  return configured && configured.length > 0 ? configured : fallback;
}
