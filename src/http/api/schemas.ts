/*
 * Named schemas of the REST API. A schema used as a request body or a response body is given a
 * name here (`requestSchema` / `responseSchema`), which becomes its entry under
 * components/schemas in the OpenAPI document; the direction decides whether defaults make a field
 * optional (a request) or always present (a response).
 */
import { z } from 'zod';

/** Which side of an exchange a named schema describes. */
export type SchemaDirection = 'request' | 'response';

/** Every named schema, with its component name and direction. */
export const API_SCHEMAS = z.registry<{ id: string; direction: SchemaDirection }>();

/** A named schema as the document generator enumerates them. */
export interface NamedSchema {
  id: string;
  direction: SchemaDirection;
  schema: z.ZodType;
}

const all: NamedSchema[] = [];

function named<T extends z.ZodType>(schema: T, id: string, direction: SchemaDirection): T {
  if (all.some((n) => n.id === id)) throw new Error(`the API schema name ${id} is used twice`);
  if (API_SCHEMAS.has(schema)) throw new Error(`the schema named ${id} already has the name ${API_SCHEMAS.get(schema)!.id}`);
  all.push({ id, direction, schema });
  API_SCHEMAS.add(schema, { id, direction });
  return schema;
}

/** Every named schema, in the order they were named. */
export function namedSchemas(): readonly NamedSchema[] {
  return all;
}

/** Names a request body schema (its component shows fields with defaults as optional). */
export function requestSchema<T extends z.ZodType>(id: string, schema: T): T {
  return named(schema, id, 'request');
}

/** Names a response body schema (its component shows what the server always sends). */
export function responseSchema<T extends z.ZodType>(id: string, schema: T): T {
  return named(schema, id, 'response');
}

/** The error body every failure has. */
export const ErrorBody = responseSchema('Error', z.strictObject({
  error: z.strictObject({
    status: z.int().min(400).max(599).describe('the HTTP status, repeated'),
    code: z.string().describe('a stable machine-readable code, e.g. invalid_request, forbidden, not_found, sod_violation'),
    message: z.string().describe('what went wrong, in words'),
    details: z.record(z.string(), z.unknown()).optional().describe('structured detail: the issues of a 400, the violated SoD rule of a sod_violation'),
  }),
}));

/** What the server adds to every catalogue entry. */
export const stamps = {
  version: z.int().min(1).describe('changes with every write; send it back in If-Match to update or delete safely'),
  created: z.string().describe('ISO-8601 time of creation'),
  lastModified: z.string().describe('ISO-8601 time of the last change'),
};

/** `{ items: [...] }`: the shape of every list response. */
export function listOf<T extends z.ZodType>(id: string, item: T) {
  return responseSchema(id, z.strictObject({ items: z.array(item) }));
}

/** Path parameter text: anything but empty, bounded so a path cannot carry a novel. */
export const pathText = z.string().min(1).max(512);

/** A true/false query parameter, as the words a URL carries. */
export const queryFlag = z.enum(['true', 'false']).transform((word) => word === 'true');

/** ISO-8601 date-times, as the access model's inputs take them (re-exported for the routes). */
export { isoDateTime } from '../../policy/model.js';
