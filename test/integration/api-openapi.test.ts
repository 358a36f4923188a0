import { expect } from 'chai';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import { routeKey, type ApiRoute } from '../../src/http/api/route.js';
import { apiClient } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** Resolves a local JSON pointer (`#/components/schemas/Target`) in `doc`, or undefined. */
function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in (node as Json))) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

/** Every `$ref` in the document, with where it sits. */
function refsIn(node: unknown, at = '#', out: Array<[string, string]> = []): Array<[string, string]> {
  if (Array.isArray(node)) node.forEach((v, i) => refsIn(v, `${at}/${i}`, out));
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push([at, value]);
      else refsIn(value, `${at}/${key}`, out);
    }
  }
  return out;
}

/** Follows $refs to the thing they name. */
function deref(doc: Json, node: Json): Json {
  let current = node;
  for (let i = 0; i < 10 && typeof current?.$ref === 'string'; i++) current = resolvePointer(doc, current.$ref) as Json;
  return current;
}

onEachDatabase('OpenAPI document', (database) => {
  let server: TestServer;
  let routes: ApiRoute[];
  let doc: Json;

  before(async () => {
    server = await startTestServer(database().db);
    routes = apiRoutes(server.services, server.services.apiPolicy);
    const res = await apiClient(server.apiUrl).get('/openapi.json');
    expect(res.status, res.text).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    doc = res.body;
  });
  after(() => server.close());

  it('is OpenAPI 3.1 with a title, a version, the /api/v1 server and bearer security', () => {
    expect(doc.openapi).to.equal('3.1.0');
    expect(doc.info.title).to.be.a('string').and.not.equal('');
    expect(doc.info.version).to.match(/^\d+\.\d+\.\d+/);
    expect(doc.servers).to.deep.equal([{ url: '/api/v1' }]);
    expect(doc.components.securitySchemes.bearer).to.include({ type: 'http', scheme: 'bearer' });
    // The description lists every scope a token can carry.
    for (const scope of ['iam-admin', 'approver', 'reviewer', 'auditor', 'hr-system', 'scim:read', 'scim:write', 'authz:check']) {
      expect(doc.info.description).to.include(`\`${scope}\``);
    }
  });

  it('holds exactly the declared routes, each with its method, operationId and summary', () => {
    const documented: string[] = [];
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Json)) {
      for (const method of Object.keys(item)) {
        expect(METHODS, `${path}: ${method}`).to.include(method);
        const op = item[method];
        documented.push(`${method.toUpperCase()} ${path}`);
        expect(op.operationId, `${method} ${path}`).to.be.a('string');
        expect(operationIds.has(op.operationId), `operationId ${op.operationId} twice`).to.equal(false);
        operationIds.add(op.operationId);
        expect(op.summary, `${method} ${path}`).to.be.a('string').and.not.equal('');
      }
    }
    expect(documented.sort()).to.deep.equal(routes.map(routeKey).sort());
    for (const route of routes) expect(doc.paths[route.path][route.method.toLowerCase()].operationId).to.equal(route.operationId);
  });

  it('resolves every $ref', () => {
    const refs = refsIn(doc);
    expect(refs.length).to.be.greaterThan(100);
    const broken = refs.filter(([, ref]) => resolvePointer(doc, ref) === undefined).map(([at, ref]) => `${at}: ${ref}`);
    expect(broken, broken.join('\n')).to.deep.equal([]);
  });

  it('gives every component schema as plain JSON Schema, without zod\'s $schema or $id', () => {
    const schemas = doc.components.schemas as Json;
    expect(Object.keys(schemas).length).to.be.greaterThan(20);
    for (const [name, schema] of Object.entries(schemas)) {
      expect(schema, name).to.not.have.property('$schema');
      expect(schema, name).to.not.have.property('$id');
      expect(schema.type ?? schema.anyOf ?? schema.oneOf, `${name} has a type`).to.not.equal(undefined);
    }
    expect(schemas.Error.required).to.deep.equal(['error']);
    expect(schemas.Error.properties.error.required).to.deep.equal(['status', 'code', 'message']);
  });

  it('describes every request body with a JSON schema of an object', () => {
    const withBody = routes.filter((r) => r.body !== undefined);
    expect(withBody.map(routeKey)).to.include.members(['PUT /targets/{name}', 'POST /grants', 'POST /authz/check', 'POST /policy/simulate', 'POST /sod-exceptions']);
    for (const route of withBody) {
      const op = doc.paths[route.path][route.method.toLowerCase()];
      const what = routeKey(route);
      expect(op.requestBody?.required, what).to.equal(true);
      const schema = deref(doc, op.requestBody.content['application/json'].schema);
      const variants: Json[] = schema.anyOf ? schema.anyOf.map((s: Json) => deref(doc, s)) : [schema];
      for (const variant of variants) {
        expect(variant.type, what).to.equal('object');
        expect(variant.additionalProperties, `${what} refuses unknown fields`).to.equal(false);
      }
    }
    for (const route of routes.filter((r) => r.body === undefined && r.rawBody === undefined)) {
      expect(doc.paths[route.path][route.method.toLowerCase()], routeKey(route)).to.not.have.property('requestBody');
    }
  });

  it('lets a PUT body leave out the names its path gives', () => {
    const schemas = doc.components.schemas as Json;
    expect(schemas.TargetInput.required).to.deep.equal(['type']);
    expect(schemas.EntitlementInput.required).to.deep.equal(['kind']);
    expect(schemas.RoleInput.required ?? []).to.deep.equal([]);
    // The stored form of an entry always carries its name and version.
    expect(schemas.Target.required).to.include.members(['name', 'type', 'version', 'created', 'lastModified']);
  });

  it('lists each path parameter, and the query parameters with their schemas', () => {
    for (const route of routes) {
      const op = doc.paths[route.path][route.method.toLowerCase()];
      const names = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const inPath = (op.parameters ?? []).filter((p: Json) => p.in === 'path');
      expect(inPath.map((p: Json) => p.name), routeKey(route)).to.deep.equal(names);
      for (const p of inPath) expect(p.required, `${routeKey(route)} ${p.name}`).to.equal(true);
    }
    const grants = doc.paths['/grants'].get.parameters as Json[];
    const limit = grants.find((p) => p.name === 'limit');
    expect(limit).to.deep.include({ in: 'query', required: false });
    expect(limit!.schema).to.include({ type: 'integer', minimum: 1, maximum: 1000, default: 100 });
    const format = (doc.paths['/audit/export'].get.parameters as Json[]).find((p) => p.name === 'format');
    expect(format!.schema.enum).to.deep.equal(['jsonl', 'csv']);
    const put = doc.paths['/roles/{name}'].put.parameters as Json[];
    expect(put.find((p) => p.name === 'If-Match')).to.include({ in: 'header', required: false });
  });

  it('gives every operation its success responses and the errors it can answer, all in the error schema', () => {
    for (const route of routes) {
      const op = doc.paths[route.path][route.method.toLowerCase()];
      const what = routeKey(route);
      for (const status of Object.keys(route.responses)) expect(op.responses, what).to.have.property(status);
      expect(op.responses, what).to.have.property('500');
      if (route.public) {
        expect(op.security, what).to.deep.equal([]);
      } else {
        expect(op.security, what).to.deep.equal([{ bearer: [] }]);
        expect(op.responses, what).to.include.keys('401', '403');
      }
      if (route.body !== undefined) expect(op.responses, what).to.include.keys('400', '413', '415');
      if (route.ifMatch) expect(op.responses, what).to.include.keys('412');
      for (const [status, response] of Object.entries(op.responses as Json)) {
        if (Number(status) < 400) continue;
        const resolved = deref(doc, response);
        expect(resolved.content['application/json'].schema, `${what} ${status}`).to.deep.equal({ $ref: '#/components/schemas/Error' });
      }
    }
    const grant = doc.paths['/grants'].post.responses;
    expect(grant).to.include.keys('200', '201', '404', '409', '422');
    expect(deref(doc, grant['409']).description).to.include('sod_violation');
    expect(doc.paths['/audit/export'].get.responses['200'].content).to.have.keys('application/x-ndjson; charset=utf-8', 'text/csv; charset=utf-8');
  });

  it('names, for each operation, the scopes the API policy lets call it', () => {
    const scopes = (path: string, method: string) => doc.paths[path][method]['x-allowed-scopes'];
    expect(scopes('/audit/verify', 'get')).to.deep.equal(['iam-admin', 'auditor']);
    expect(scopes('/authz/check', 'post')).to.deep.equal(['iam-admin', 'auditor', 'authz:check']);
    expect(scopes('/grants', 'post')).to.deep.equal(['iam-admin', 'approver']);
    expect(scopes('/roles/{name}', 'get')).to.deep.equal(['iam-admin', 'approver', 'reviewer', 'auditor']);
    expect(scopes('/openapi.json', 'get')).to.deep.equal([]);
    expect(doc.paths['/grants'].post.description).to.include('Scopes allowed by the API policy: iam-admin, approver.');
  });
});
