/*
 * Separation of duties at run time: the violations that exist now, and the approved exceptions
 * that let one person hold both sides of a rule.
 */
import { z } from 'zod';
import { PolicyError, RISKS, sodExceptionInput } from '../../../policy/model.js';
import { readSodExceptions } from '../../../policy/sod-exceptions.js';
import type { ApiDeps } from '../deps.js';
import { API_PREFIX, defineRoute, type ApiRoute } from '../route.js';
import { listOf, pathText, requestSchema, responseSchema } from '../schemas.js';

export const SodViolationSchema = responseSchema('SodViolation', z.strictObject({
  rule: z.string(),
  severity: z.enum(RISKS),
  identityId: z.string(),
  userName: z.string().optional(),
  left: z.array(z.string()).describe('the items held on the rule\'s left side'),
  right: z.array(z.string()).describe('the items held on the rule\'s right side'),
  excepted: z.boolean().describe('an approved, unexpired exception covers it'),
  exceptionId: z.string().optional(),
}));

const SodViolationList = listOf('SodViolationList', SodViolationSchema);

const SodExceptionSchema = responseSchema('SodException', z.strictObject({
  id: z.string(),
  rule: z.string(),
  identityId: z.string(),
  userName: z.string().optional(),
  reason: z.string().nullable(),
  approvedBy: z.string(),
  validUntil: z.string().nullable(),
  created: z.string(),
}));

const SodExceptionList = listOf('SodExceptionList', SodExceptionSchema);

const SodExceptionRequest = requestSchema('SodExceptionInput', sodExceptionInput);

/** The SoD report and exception routes. */
export function sodRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/sod/violations', operationId: 'listSodViolations', tag: 'Separation of duties',
      summary: 'The separation-of-duties violations that exist now',
      description: 'Every identity whose effective access breaks an enabled SoD rule, including those an approved exception covers (excepted: true) and those birthright rules caused.',
      query: z.strictObject({ rule: z.string().min(1).max(64).optional().describe('only this rule') }),
      responses: { 200: { description: 'the violations', schema: SodViolationList } },
      errors: [404],
      async handle({ query }) {
        const catalog = await deps.policyStore.catalog();
        return { status: 200, body: { items: await deps.sod.report(catalog, query.rule === undefined ? {} : { rule: query.rule }) } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/sod-exceptions', operationId: 'listSodExceptions', tag: 'Separation of duties',
      summary: 'List recorded SoD exceptions, valid or expired',
      query: z.strictObject({
        rule: z.string().min(1).max(64).optional(),
        identity: z.string().min(1).max(255).optional().describe('identity id or userName'),
      }),
      responses: { 200: { description: 'the exceptions', schema: SodExceptionList } },
      async handle({ query }) {
        const items = await deps.sodExceptions.list({
          ...(query.rule !== undefined && { rule: query.rule }),
          ...(query.identity !== undefined && { identityId: query.identity }),
        });
        return { status: 200, body: { items } };
      },
    }),
    defineRoute({
      method: 'POST', path: '/sod-exceptions', operationId: 'createSodException', tag: 'Separation of duties',
      summary: 'Record an approved exception to an SoD rule for one identity',
      description: 'From then on (until validUntil, if given) grants to that identity are not refused for that rule. Recording one for a rule and identity that already have one replaces it.',
      body: SodExceptionRequest,
      responses: { 201: { description: 'recorded', schema: SodExceptionSchema, headers: { Location: 'the exception\'s URL' } } },
      errors: [404, 422],
      async handle({ body }, call) {
        const exception = await deps.sodExceptions.create(body, call.change);
        return { status: 201, body: exception, headers: { Location: `${API_PREFIX}/sod-exceptions/${encodeURIComponent(exception.id)}` } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/sod-exceptions/{id}', operationId: 'getSodException', tag: 'Separation of duties',
      summary: 'Read one SoD exception',
      params: z.strictObject({ id: pathText }),
      responses: { 200: { description: 'the exception', schema: SodExceptionSchema } },
      errors: [404],
      async handle({ params }) {
        const [exception] = await readSodExceptions(deps.db, { id: params.id });
        if (!exception) throw new PolicyError('notFound', `SoD exception ${params.id} does not exist`);
        return { status: 200, body: exception };
      },
    }),
    defineRoute({
      method: 'DELETE', path: '/sod-exceptions/{id}', operationId: 'deleteSodException', tag: 'Separation of duties',
      summary: 'Withdraw an SoD exception',
      description: 'Grants it allowed stay, and show in the violations report from then on.',
      params: z.strictObject({ id: pathText }),
      responses: { 204: { description: 'withdrawn' } },
      errors: [404],
      async handle({ params }, call) {
        await deps.sodExceptions.remove(params.id, call.change);
        return { status: 204 };
      },
    }),
  ];
}
