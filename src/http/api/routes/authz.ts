/*
 * The externalized authorization other applications call: "may this person do this action on
 * this object?", decided by the policy engine on the live policy and the person's grants, with
 * the role path and rule that decided. One check, or a batch decided on the same policy version.
 */
import { z } from 'zod';
import type { CheckRequest } from '../../../policy/engine.js';
import type { ApiDeps } from '../deps.js';
import { invalidRequest } from '../errors.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { isoDateTime, requestSchema, responseSchema } from '../schemas.js';

// The longest subject, object and action a check may name; the schema and isPlainCheck both use them.
const MAX_LENGTH = { subject: 255, object: 1024, action: 128 } as const;

const CheckRequestSchema = requestSchema('CheckRequest', z.strictObject({
  subject: z.string().min(1).max(MAX_LENGTH.subject).describe('identity id or userName (any case)'),
  object: z.string().min(1).max(MAX_LENGTH.object).describe('what is accessed: a path such as /repos/api, or an item such as role:engineer'),
  action: z.string().min(1).max(MAX_LENGTH.action).describe('e.g. read, write; "hold" with an item as object asks whether the subject holds it'),
  context: z.strictObject({
    time: isoDateTime.optional().describe('decide as of this instant (grant validity windows); default now'),
  }).optional(),
}));

const CheckBatchSchema = requestSchema('CheckBatch', z.strictObject({
  checks: z.array(CheckRequestSchema).min(1).describe('at most api.maxBatchChecks (default 1000) checks'),
}));

const CheckBody = requestSchema('CheckBody', z.union([CheckRequestSchema, CheckBatchSchema]));

/**
 * The shape almost every check has, tested without the schema: subject, object and action, strings
 * of lengths the schema allows, and no other key. Applications call this endpoint on their own hot
 * paths, and running the schema was a tenth of the request.
 */
export function isPlainCheck(body: unknown): body is CheckRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  let keys = 0;
  for (const key in body) {
    if (key !== 'subject' && key !== 'object' && key !== 'action') return false;
    const value = (body as Record<string, unknown>)[key];
    if (typeof value !== 'string' || value.length < 1 || value.length > MAX_LENGTH[key]) return false;
    keys++;
  }
  return keys === 3;
}

const CheckResultSchema = responseSchema('CheckResult', z.strictObject({
  allowed: z.boolean(),
  reason: z.string().describe('the role path and rule that allowed, or why nothing did'),
  rolePath: z.array(z.string()).optional().describe('from the subject through its roles to the one whose rule allowed'),
  rule: z.tuple([z.string(), z.string(), z.string()]).optional().describe('the permission rule that allowed: [role, object pattern, action]'),
  policyVersion: z.int().describe('the policy version that decided'),
}));

const CheckResults = responseSchema('CheckResults', z.strictObject({
  results: z.array(CheckResultSchema).describe('one per check, in order'),
}));

const CheckResponse = responseSchema('CheckResponse', z.union([CheckResultSchema, CheckResults]));

/** The check route. */
export function authzRoutes(deps: ApiDeps): ApiRoute[] {
  const maxChecks = deps.config.api.maxBatchChecks;
  return [
    defineRoute({
      method: 'POST', path: '/authz/check', operationId: 'checkAccess', tag: 'Access checks',
      summary: 'Decide whether a subject may do an action on an object',
      description: 'Send one check `{subject, object, action, context?}` and get `{allowed, reason, ...}`; or send `{checks: [...]}` and get `{results: [...]}`, all decided on one policy version. An unknown or inactive subject is denied with a reason saying so.',
      body: CheckBody,
      acceptsBody: isPlainCheck,
      responses: { 200: { description: 'the decision, or one per check of a batch', schema: CheckResponse } },
      async handle({ body }) {
        if ('checks' in body) {
          if (body.checks.length > maxChecks) {
            throw invalidRequest([{ in: 'body', path: 'checks', code: 'too_big', message: `holds ${body.checks.length} checks; at most ${maxChecks} are taken per request` }]);
          }
          return { status: 200, body: { results: await deps.engine.checkMany(body.checks as CheckRequest[]) } };
        }
        return { status: 200, body: await deps.engine.check(body as CheckRequest) };
      },
    }),
  ];
}
