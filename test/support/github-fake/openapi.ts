/*
 * GitHub's official OpenAPI description (@octokit/openapi, the api.github.com variant) as the
 * fake uses it: which documented operation a request is, and whether its path and query
 * parameters, its JSON body and the fake's own answer fit the documented schemas. The fake trusts
 * nothing about the connector's requests that this description does not say.
 *
 * The description is 13 MB and has 800 paths: it is read once per process, and each operation's
 * validators are compiled by ajv the first time a request needs them, then kept.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type SchemaObject = { [key: string]: Json };

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: SchemaObject;
}

interface MediaType {
  schema?: SchemaObject;
}

interface ResponseObject {
  content?: Record<string, MediaType>;
}

/** One documented operation: a method on a path template. */
export interface DocumentedOperation {
  operationId: string;
  method: string;
  template: string;
  parameters: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, MediaType> };
  responses: Record<string, ResponseObject>;
}

/** A request's operation and the values its path template captured. */
export interface RouteMatch {
  operation: DocumentedOperation;
  pathParams: Record<string, string>;
}

interface Route {
  operation: DocumentedOperation;
  /** literal segment text, or null where the template has a parameter */
  segments: Array<string | null>;
  names: string[];
  literals: number;
}

/** The id ajv knows the description's component schemas by. */
const BASE = 'github-openapi';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/**
 * OpenAPI 3.0 lets `nullable: true` stand without `type` (next to a `$ref` or `allOf`); ajv
 * refuses that, so such a schema becomes "this schema, or null", which is what it means.
 */
function ajvReady(value: Json): Json {
  if (Array.isArray(value)) return value.map(ajvReady);
  if (value === null || typeof value !== 'object') return value;
  const out: SchemaObject = {};
  for (const [key, child] of Object.entries(value)) {
    // Examples are data, not schemas.
    out[key] = key === 'example' || key === 'examples' ? child : ajvReady(child);
  }
  if (out.nullable === true && out.type === undefined) {
    delete out.nullable;
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

/** A copy of an inline schema whose local references point into the registered components. */
function anchored(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(anchored);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: SchemaObject = {};
  for (const [key, child] of Object.entries(schema)) {
    out[key] = key === '$ref' && typeof child === 'string' && child.startsWith('#/') ? `${BASE}${child}` : anchored(child);
  }
  return out;
}

/** Text for ajv's errors, short enough for a 422 message and a violation entry. */
function describe(where: string, errors: ValidateFunction['errors']): string {
  const first = (errors ?? []).slice(0, 3).map((e) => `${where}${e.instancePath || ''} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}${e.params && 'allowedValues' in e.params ? ` (${JSON.stringify(e.params.allowedValues)})` : ''}`);
  return first.join('; ') || `${where} is invalid`;
}

/** A query or path value as the JSON type its schema wants, or the text when it cannot be one. */
function coerce(value: string, schema: SchemaObject | undefined): Json {
  switch (schema?.type) {
    case 'integer':
      return /^-?\d+$/.test(value) ? Number(value) : value;
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    case 'array':
      return value.split(',');
    default:
      return value;
  }
}

export class GithubDescription {
  private readonly ajv: Ajv;
  private readonly routes = new Map<string, Route[]>();
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly document: { paths: Record<string, Record<string, unknown>>; components: Record<string, Record<string, Json>> }) {
    this.ajv = new Ajv({ strict: false, logger: false, allErrors: true });
    ajvFormats.default(this.ajv);
    // OpenAPI's numeric formats say how wide a number is; any JSON integer fits here.
    this.ajv.addFormat('int64', true);
    this.ajv.addFormat('int32', true);
    this.ajv.addSchema({ components: { schemas: ajvReady(document.components.schemas as Json) } }, BASE);
    for (const [template, item] of Object.entries(document.paths)) {
      const shared = (item.parameters as Parameter[] | undefined) ?? [];
      for (const method of HTTP_METHODS) {
        const raw = item[method] as { operationId: string; parameters?: Parameter[]; requestBody?: DocumentedOperation['requestBody']; responses: DocumentedOperation['responses'] } | undefined;
        if (!raw) continue;
        const parameters = [...shared, ...(raw.parameters ?? [])].map((p) => this.resolve<Parameter>(p));
        const operation: DocumentedOperation = {
          operationId: raw.operationId, method: method.toUpperCase(), template, parameters,
          requestBody: raw.requestBody && this.resolve(raw.requestBody), responses: raw.responses,
        };
        const segments = template.split('/').slice(1).map((s) => (/^\{[^}]+\}$/.test(s) ? null : s));
        const names = template.split('/').slice(1).filter((s) => /^\{[^}]+\}$/.test(s)).map((s) => s.slice(1, -1));
        const key = `${operation.method} ${segments.length}`;
        const list = this.routes.get(key) ?? [];
        list.push({ operation, segments, names, literals: segments.filter((s) => s !== null).length });
        this.routes.set(key, list);
      }
    }
    // The most literal template wins: /orgs/{org}/teams before /orgs/{org}/{anything}.
    for (const list of this.routes.values()) list.sort((a, b) => b.literals - a.literals);
  }

  /** The documented operation for a method and a path (below the API root), if there is one. */
  match(method: string, pathname: string): RouteMatch | undefined {
    const parts = pathname.split('/').slice(1);
    for (const route of this.routes.get(`${method} ${parts.length}`) ?? []) {
      const values: string[] = [];
      const fits = route.segments.every((segment, i) => {
        if (segment === null) {
          if (parts[i] === '') return false;
          values.push(parts[i]!);
          return true;
        }
        return segment === parts[i];
      });
      if (!fits) continue;
      const pathParams: Record<string, string> = {};
      route.names.forEach((name, i) => {
        pathParams[name] = decodeURIComponent(values[i]!);
      });
      return { operation: route.operation, pathParams };
    }
    return undefined;
  }

  /** What is wrong with a request for this operation by the description; empty when nothing is. */
  checkRequest(match: RouteMatch, query: URLSearchParams, body: { present: boolean; json: boolean; value?: unknown }): string[] {
    const problems: string[] = [];
    const { operation } = match;
    for (const parameter of operation.parameters) {
      if (parameter.in === 'path') {
        const value = match.pathParams[parameter.name];
        if (value === undefined) problems.push(`path parameter ${parameter.name} is missing`);
        else this.checkValue(operation, parameter, value, problems);
      } else if (parameter.in === 'query') {
        const value = query.get(parameter.name);
        if (value === null) {
          if (parameter.required) problems.push(`query parameter ${parameter.name} is required`);
        } else {
          this.checkValue(operation, parameter, value, problems);
        }
      }
    }
    const documented = new Set(operation.parameters.filter((p) => p.in === 'query').map((p) => p.name));
    for (const name of new Set(query.keys())) {
      // GitHub ignores what it does not know, which would hide a misspelt parameter.
      if (!documented.has(name)) problems.push(`query parameter ${name} is not documented for ${operation.operationId}`);
    }
    const bodySchema = operation.requestBody?.content['application/json']?.schema;
    if (!body.present) {
      if (operation.requestBody?.required) problems.push(`${operation.operationId} requires a JSON body`);
    } else if (!operation.requestBody) {
      problems.push(`${operation.operationId} takes no request body`);
    } else if (!body.json) {
      problems.push('the request body is not JSON with Content-Type application/json');
    } else if (bodySchema) {
      const validate = this.validator(`${operation.operationId} body`, () => {
        const schema = anchored(ajvReady(bodySchema)) as SchemaObject;
        // GitHub drops properties it does not document; a connector that sends one has a bug.
        if (schema.type === 'object' && schema.properties && schema.additionalProperties === undefined) schema.additionalProperties = false;
        return schema;
      });
      if (!validate(body.value)) problems.push(describe('body', validate.errors));
    }
    return problems;
  }

  /** What is wrong with an answer the fake is about to send, by the description. */
  checkResponse(operation: DocumentedOperation, status: number, body: unknown): string[] {
    const documented = operation.responses[String(status)];
    if (!documented) {
      // GitHub answers errors the description leaves out (a 404 on a PUT); their shape is still fixed.
      if (status >= 400) return this.checkAgainst(`${operation.operationId} ${status}`, { $ref: '#/components/schemas/basic-error' }, body);
      return [`${operation.operationId} has no documented ${status} answer`];
    }
    const schema = this.resolve<ResponseObject>(documented).content?.['application/json']?.schema;
    if (!schema) {
      // An error documented only in words still comes with GitHub's usual error body.
      if (status >= 400) return this.checkAgainst(`${operation.operationId} ${status}`, { $ref: '#/components/schemas/basic-error' }, body);
      return body === undefined ? [] : [`${operation.operationId} documents no body for ${status}`];
    }
    return this.checkAgainst(`${operation.operationId} ${status}`, schema, body);
  }

  private checkAgainst(key: string, schema: SchemaObject, body: unknown): string[] {
    const validate = this.validator(`${key} response`, () => anchored(ajvReady(schema)) as SchemaObject);
    return validate(body) ? [] : [`answer of ${key}: ${describe('body', validate.errors)}`];
  }

  private checkValue(operation: DocumentedOperation, parameter: Parameter, text: string, problems: string[]): void {
    if (!parameter.schema) return;
    const validate = this.validator(`${operation.operationId} ${parameter.in} ${parameter.name}`, () => anchored(ajvReady(parameter.schema!)) as SchemaObject);
    if (!validate(coerce(text, parameter.schema))) problems.push(describe(`${parameter.in} parameter ${parameter.name}`, validate.errors));
  }

  private validator(key: string, schema: () => SchemaObject): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema());
      this.validators.set(key, validate);
    }
    return validate;
  }

  /** An object, or the component a `$ref` names (parameters, request bodies, responses). */
  private resolve<T>(value: unknown): T {
    const ref = (value as { $ref?: string }).$ref;
    if (!ref) return value as T;
    const [, , kind, name] = ref.split('/');
    const target = this.document.components[kind!]?.[name!];
    if (!target) throw new Error(`the GitHub description has no ${ref}`);
    return this.resolve<T>(target);
  }
}

let shared: GithubDescription | undefined;

/** The api.github.com description, read and indexed on first use and kept for the process. */
export function githubDescription(): GithubDescription {
  if (!shared) {
    const file = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
    shared = new GithubDescription(JSON.parse(readFileSync(file, 'utf8')));
  }
  return shared;
}
