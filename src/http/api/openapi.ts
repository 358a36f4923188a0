/*
 * The OpenAPI 3.1 document of /api/v1, generated from the declared routes: paths, parameters and
 * bodies from their zod schemas (JSON Schema 2020-12, which OpenAPI 3.1 uses as is), the error
 * responses each kind of route can give, and for every operation the scopes the API policy lets
 * call it.
 */
import { z } from 'zod';
import { SCOPES } from '../../auth/scopes.js';
import type { ApiPolicy } from './authorize.js';
import { ERROR_CODES, type ErrorStatus } from './errors.js';
import { routeKey, type ApiRoute } from './route.js';
import { API_SCHEMAS, namedSchemas, type SchemaDirection } from './schemas.js';

type Json = Record<string, unknown>;

const SCHEMA_REF = '#/components/schemas/';

/** Words for each error status, shown as the component response's description. */
const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: 'The request is not valid: malformed JSON, an unknown field, a wrong type; details.issues lists each problem with its place.',
  401: 'No bearer token, or one that is not valid.',
  403: 'The token\'s scopes do not allow this; the message names them and the scopes that would.',
  404: 'Nothing by that name or id.',
  405: 'The path exists but not with this method; the Allow header lists its methods.',
  409: 'A conflict: the entry is still referenced, or (code sod_violation) the grant would violate a separation-of-duties rule, named in details.',
  412: 'If-Match names a version other than the current one.',
  413: 'The body is larger than the server accepts.',
  415: 'The body is not JSON, or (for an upload) not of a media type the endpoint lists.',
  422: 'Well-formed, but the policy refuses it (an unknown reference, a cycle in role inheritance, a bad rule expression).',
  500: 'An unexpected fault; the message carries the request id to quote.',
};

const ERROR_RESPONSE_NAMES: Record<ErrorStatus, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict',
  412: 'PreconditionFailed', 413: 'PayloadTooLarge', 415: 'UnsupportedMediaType', 422: 'UnprocessableEntity', 500: 'InternalError',
};

/** One JSON Schema per named schema of a direction, with $refs between them. */
function componentSchemas(direction: SchemaDirection): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const named of namedSchemas()) if (named.direction === direction) registry.add(named.schema, { id: named.id });
  const { schemas } = z.toJSONSchema(registry, {
    io: direction === 'request' ? 'input' : 'output',
    uri: (id) => `${SCHEMA_REF}${id}`,
    unrepresentable: 'any',
  }) as { schemas: Record<string, Json> };
  for (const schema of Object.values(schemas)) {
    delete schema.$schema;
    delete schema.$id;
  }
  return schemas;
}

/** A standalone JSON Schema for a parameter. */
function parameterSchema(schema: z.ZodType): Json {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  delete json.$schema;
  return json;
}

function refTo(schema: z.ZodType, what: string, direction: SchemaDirection): Json {
  const named = API_SCHEMAS.get(schema);
  if (!named) throw new Error(`${what}: its schema has no name; give it one with ${direction}Schema() in src/http/api/schemas.ts`);
  if (named.direction !== direction) throw new Error(`${what}: schema ${named.id} is named as a ${named.direction} schema`);
  return { $ref: `${SCHEMA_REF}${named.id}` };
}

function shapeOf(schema: z.ZodType | undefined, what: string): Record<string, z.ZodType> {
  if (schema === undefined) return {};
  if (!(schema instanceof z.ZodObject)) throw new Error(`${what} must be a z.object`);
  return schema.shape as Record<string, z.ZodType>;
}

function parameters(route: ApiRoute): Json[] {
  const key = routeKey(route);
  const out: Json[] = [];
  const params = shapeOf(route.params, `${key} params`);
  for (const [, name] of route.path.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    const schema = params[name!];
    out.push({ name, in: 'path', required: true, schema: schema ? parameterSchema(schema) : { type: 'string' }, ...(schema?.description && { description: schema.description }) });
  }
  for (const [name, schema] of Object.entries(shapeOf(route.query, `${key} query`))) {
    out.push({ name, in: 'query', required: !schema.safeParse(undefined).success, schema: parameterSchema(schema), ...(schema.description && { description: schema.description }) });
  }
  if (route.ifMatch) {
    out.push({
      name: 'If-Match', in: 'header', required: false, schema: { type: 'string' },
      description: 'The ETag of the version this change expects ("3"); the change is refused with 412 if the entry has moved on. `*` requires only that it exists.',
    });
  }
  if (route.idempotencyKey) {
    out.push({
      name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 },
      description: 'A key of your choosing (a UUID): a retry with the same key by the same token answers with what the first call made; the same key with a different body is refused with 409.',
    });
  }
  return out;
}

/** The error statuses a route can answer with, from what it takes and what it declares. */
function errorStatuses(route: ApiRoute): ErrorStatus[] {
  const statuses = new Set<ErrorStatus>(route.errors ?? []);
  if (!route.public) {
    statuses.add(401);
    statuses.add(403);
  }
  const takesInput = route.params !== undefined || route.query !== undefined || route.body !== undefined || route.rawBody !== undefined || route.ifMatch;
  if (takesInput) statuses.add(400);
  if (route.body !== undefined || route.rawBody !== undefined) {
    statuses.add(413);
    statuses.add(415);
  }
  if (route.ifMatch) statuses.add(412);
  statuses.add(500);
  return [...statuses].sort((a, b) => a - b);
}

function operation(route: ApiRoute, policy: ApiPolicy, prefix: string): Json {
  const key = routeKey(route);
  const scopes = route.public ? [] : policy.scopesAllowing(`${prefix}${route.path}`, route.method);
  const access = route.public
    ? 'No token needed.'
    : scopes.length > 0 ? `Scopes allowed by the API policy: ${scopes.join(', ')}.` : 'No scope is allowed this by the API policy.';
  const responses: Json = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    const content: Json = {};
    if (spec.schema) content['application/json'] = { schema: refTo(spec.schema, `${key} response ${status}`, 'response') };
    for (const type of spec.mediaTypes ?? []) content[type] = { schema: { type: 'string' } };
    responses[status] = {
      description: spec.description,
      ...(Object.keys(content).length > 0 && { content }),
      ...(spec.headers && { headers: Object.fromEntries(Object.entries(spec.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) }),
    };
  }
  for (const status of errorStatuses(route)) responses[String(status)] = { $ref: `#/components/responses/${ERROR_RESPONSE_NAMES[status]}` };
  const params = parameters(route);
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: [route.description, access].filter(Boolean).join('\n\n'),
    tags: [route.tag],
    security: route.public ? [] : [{ bearer: [] }],
    'x-allowed-scopes': scopes,
    ...(params.length > 0 && { parameters: params }),
    ...(route.body !== undefined && {
      requestBody: { required: true, content: { 'application/json': { schema: refTo(route.body, `${key} body`, 'request') } } },
    }),
    ...(route.rawBody !== undefined && {
      requestBody: {
        required: true,
        description: `${route.rawBody.description} At most ${route.rawBody.maxBytes} bytes.`,
        content: Object.fromEntries(Object.entries(route.rawBody.mediaTypes).map(([type, schema]) => [type, { schema }])),
      },
    }),
    responses,
  };
}

/** Builds the document; throws naming the route when a declaration cannot be documented. */
export function openApiDocument(routes: readonly ApiRoute[], policy: ApiPolicy, options: { prefix: string; version: string }): Json {
  const paths: Record<string, Json> = {};
  const operationIds = new Set<string>();
  for (const route of routes) {
    if (operationIds.has(route.operationId)) throw new Error(`operationId ${route.operationId} is declared twice`);
    operationIds.add(route.operationId);
    const item = (paths[route.path] ??= {});
    const method = route.method.toLowerCase();
    if (item[method]) throw new Error(`${routeKey(route)} is declared twice`);
    item[method] = operation(route, policy, options.prefix);
  }
  const schemas = { ...componentSchemas('request'), ...componentSchemas('response') };
  const responses = Object.fromEntries((Object.keys(ERROR_RESPONSE_NAMES).map(Number) as ErrorStatus[]).map((status) => [ERROR_RESPONSE_NAMES[status], {
    description: `${ERROR_DESCRIPTIONS[status]} Codes: ${ERROR_CODES[status].join(', ')}.`,
    content: { 'application/json': { schema: { $ref: `${SCHEMA_REF}Error` } } },
  }]));
  const scopeList = Object.entries(SCOPES).map(([scope, what]) => `- \`${scope}\`: ${what}`).join('\n');
  return {
    openapi: '3.1.0',
    info: {
      title: 'IAM server REST API',
      version: options.version,
      description: `The access model (targets, entitlements, roles, birthright and SoD rules), grants, effective access, the access-check API, policy simulation, and the audit trail.\n\nEvery call but this document needs a bearer token (\`iam token create --name NAME --scopes LIST\`). Its scopes are roles of the API policy (policies/api_policy.csv), which allows or refuses each path and method; each operation lists the scopes it allows.\n\n${scopeList}`,
    },
    servers: [{ url: options.prefix }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      responses,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token: iam_<id>_<secret>.' },
      },
    },
  };
}
