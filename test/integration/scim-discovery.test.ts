import { expect } from 'chai';
import { configWith } from '../../src/config/index.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ENTERPRISE, GROUP_SCHEMA, scimClient, USER_SCHEMA, type ScimClient, type ScimResponse } from '../support/scim-client.js';

/* The discovery endpoints of RFC 7644 §4, with the documents of RFC 7643 §5, §6 and §7. */

type Doc = Record<string, any>;

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const SPC_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';
const SCIM_JSON = 'application/scim+json; charset=utf-8';

const PUBLIC_URL = 'https://iam.example.com';
const BASE = `${PUBLIC_URL}/scim/v2`;

function expectError(res: ScimResponse, status: number): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.headers.get('content-type')).to.equal(SCIM_JSON);
  expect(res.body.schemas).to.deep.equal([ERROR_SCHEMA]);
  expect(res.body.status).to.equal(String(status));
  expect(res.body.detail).to.be.a('string').and.not.equal('');
}

const USER_TYPE = {
  schemas: [RESOURCE_TYPE_SCHEMA],
  id: 'User',
  name: 'User',
  description: 'User Account',
  endpoint: '/Users',
  schema: USER_SCHEMA,
  schemaExtensions: [{ schema: ENTERPRISE, required: false }],
  meta: { resourceType: 'ResourceType', location: `${BASE}/ResourceTypes/User` },
};

const GROUP_TYPE = {
  schemas: [RESOURCE_TYPE_SCHEMA],
  id: 'Group',
  name: 'Group',
  description: 'Group',
  endpoint: '/Groups',
  schema: GROUP_SCHEMA,
  meta: { resourceType: 'ResourceType', location: `${BASE}/ResourceTypes/Group` },
};

/** Each schema's name and its attribute names, in order (RFC 7643 §4.1, §4.2, §4.3). */
const SCHEMAS: [id: string, name: string, attributes: string[]][] = [
  [USER_SCHEMA, 'User', [
    'userName', 'name', 'displayName', 'nickName', 'profileUrl', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone', 'active',
    'password', 'emails', 'phoneNumbers', 'ims', 'photos', 'addresses', 'groups', 'entitlements', 'roles', 'x509Certificates',
  ]],
  [GROUP_SCHEMA, 'Group', ['displayName', 'members']],
  [ENTERPRISE, 'EnterpriseUser', ['employeeNumber', 'costCenter', 'organization', 'division', 'department', 'manager']],
];

/** Characteristics the RFC 7643 schemas fix, looked up as "attribute" or "attribute.sub". */
const CHARACTERISTICS: [schema: string, path: string, expected: Doc][] = [
  [USER_SCHEMA, 'userName', { type: 'string', multiValued: false, required: true, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'server' }],
  [USER_SCHEMA, 'password', { type: 'string', mutability: 'writeOnly', returned: 'never' }],
  [USER_SCHEMA, 'active', { type: 'boolean', multiValued: false }],
  [USER_SCHEMA, 'emails', { type: 'complex', multiValued: true }],
  [USER_SCHEMA, 'emails.primary', { type: 'boolean' }],
  [USER_SCHEMA, 'groups', { type: 'complex', multiValued: true, mutability: 'readOnly' }],
  [USER_SCHEMA, 'groups.value', { mutability: 'readOnly' }],
  [GROUP_SCHEMA, 'displayName', { type: 'string', required: true }],
  [GROUP_SCHEMA, 'members', { type: 'complex', multiValued: true, mutability: 'readWrite' }],
  [GROUP_SCHEMA, 'members.value', { mutability: 'immutable' }],
  [ENTERPRISE, 'manager', { type: 'complex', multiValued: false }],
  [ENTERPRISE, 'manager.displayName', { mutability: 'readOnly' }],
];

onEachDatabase('SCIM discovery (RFC 7644 §4)', (database) => {
  let server: TestServer;
  /** Discovery needs no token. */
  let scim: ScimClient;
  before(async () => {
    server = await startTestServer(database().db, { publicUrl: `${PUBLIC_URL}/` });
    scim = scimClient(server.scimUrl);
  });
  after(() => server.close());

  describe('GET /ServiceProviderConfig (RFC 7643 §5)', () => {
    it('describes exactly the supported features and configured limits, without a token', async () => {
      const { scim: limits } = configWith();
      const res = await scim.get('/ServiceProviderConfig');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal(SCIM_JSON);
      expect(res.body).to.deep.equal({
        schemas: [SPC_SCHEMA],
        patch: { supported: true },
        bulk: { supported: true, maxOperations: limits.bulkMaxOperations, maxPayloadSize: limits.bulkMaxPayloadBytes },
        filter: { supported: true, maxResults: limits.maxPageSize },
        changePassword: { supported: false },
        sort: { supported: true },
        etag: { supported: true },
        authenticationSchemes: [{
          type: 'oauthbearertoken',
          name: 'Bearer token',
          description: 'A token from `iam token create`, sent as "Authorization: Bearer <token>".',
          specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
        }],
        meta: { resourceType: 'ServiceProviderConfig', location: `${BASE}/ServiceProviderConfig` },
      });
    });
  });

  describe('GET /ResourceTypes (RFC 7643 §6)', () => {
    it('lists User (with the enterprise extension) and Group in a ListResponse', async () => {
      const res = await scim.get('/ResourceTypes');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal(SCIM_JSON);
      expect(res.body).to.deep.equal({ schemas: [LIST_RESPONSE], totalResults: 2, itemsPerPage: 2, startIndex: 1, Resources: [USER_TYPE, GROUP_TYPE] });
    });

    for (const [id, doc] of [['User', USER_TYPE], ['Group', GROUP_TYPE]] as const) {
      it(`GET /ResourceTypes/${id} returns the single resource type`, async () => {
        const res = await scim.get(`/ResourceTypes/${id}`);
        expect(res.status).to.equal(200);
        expect(res.body).to.deep.equal(doc);
      });
    }

    it('finds a resource type by id in any case, and names it by its own id in meta.location', async () => {
      const res = await scim.get('/ResourceTypes/user');
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal(USER_TYPE);
    });

    it('names only schemas that /Schemas serves', async () => {
      const types = (await scim.get('/ResourceTypes')).body.Resources as Doc[];
      const urns = types.flatMap((t) => [t.schema, ...(t.schemaExtensions ?? []).map((e: Doc) => e.schema)]);
      expect(urns).to.deep.equal([USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA]);
      for (const urn of urns) expect((await scim.get(`/Schemas/${urn}`)).status, urn).to.equal(200);
    });
  });

  describe('GET /Schemas (RFC 7643 §7)', () => {
    it('lists the User, Group and EnterpriseUser schemas in a ListResponse', async () => {
      const res = await scim.get('/Schemas');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal(SCIM_JSON);
      const { Resources, ...envelope } = res.body;
      expect(envelope).to.deep.equal({ schemas: [LIST_RESPONSE], totalResults: 3, itemsPerPage: 3, startIndex: 1 });
      expect((Resources as Doc[]).map((s) => [s.id, s.name, s.attributes.map((a: Doc) => a.name)])).to.deep.equal(SCHEMAS);
      for (const s of Resources as Doc[]) {
        expect(s.schemas).to.deep.equal([SCHEMA_SCHEMA]);
        expect(s.meta).to.deep.equal({ resourceType: 'Schema', location: `${BASE}/Schemas/${s.id}` });
      }
    });

    it('ignores pagination parameters (RFC 7644 §4: they SHALL be ignored)', async () => {
      const res = await scim.get('/Schemas?startIndex=2&count=1&sortBy=name');
      expect(res.status).to.equal(200);
      expect([res.body.totalResults, res.body.itemsPerPage, res.body.startIndex]).to.deep.equal([3, 3, 1]);
      expect(res.body.Resources.map((s: Doc) => s.id)).to.deep.equal(SCHEMAS.map(([id]) => id));
    });

    for (const [id, name, attributes] of SCHEMAS) {
      it(`GET /Schemas/${id} returns the ${name} schema, equal to its entry in the list`, async () => {
        const res = await scim.get(`/Schemas/${id}`);
        expect(res.status).to.equal(200);
        expect(res.headers.get('content-type')).to.equal(SCIM_JSON);
        expect(res.body.schemas).to.deep.equal([SCHEMA_SCHEMA]);
        expect([res.body.id, res.body.name]).to.deep.equal([id, name]);
        expect(res.body.attributes.map((a: Doc) => a.name)).to.deep.equal(attributes);
        expect(res.body.meta).to.deep.equal({ resourceType: 'Schema', location: `${BASE}/Schemas/${id}` });
        const listed = ((await scim.get('/Schemas')).body.Resources as Doc[]).find((s) => s.id === id);
        expect(res.body).to.deep.equal(listed);
      });
    }

    it('finds a schema by URN in any case, and names it by its own id in meta.location', async () => {
      const res = await scim.get(`/Schemas/${ENTERPRISE.toLowerCase()}`);
      expect(res.status).to.equal(200);
      expect(res.body.id).to.equal(ENTERPRISE);
      expect(res.body.meta.location).to.equal(`${BASE}/Schemas/${ENTERPRISE}`);
    });

    for (const [schema, path, expected] of CHARACTERISTICS) {
      it(`describes ${schema.split(':').pop()} ${path} as ${JSON.stringify(expected)}`, async () => {
        const doc = (await scim.get(`/Schemas/${schema}`)).body;
        const [attr, sub] = path.split('.');
        let found = (doc.attributes as Doc[]).find((a) => a.name === attr);
        if (sub) found = (found?.subAttributes as Doc[] | undefined)?.find((a) => a.name === sub);
        expect(found, path).to.not.equal(undefined);
        expect(found).to.deep.include(expected);
      });
    }
  });

  describe('errors', () => {
    for (const path of ['/Schemas/urn:ietf:params:scim:schemas:core:2.0:Nothing', '/Schemas/User', '/ResourceTypes/Robot', '/ResourceTypes/Users']) {
      it(`GET ${path} → 404 SCIM error`, async () => {
        expectError(await scim.get(path), 404);
      });
    }

    const paths = ['/ServiceProviderConfig', '/ResourceTypes', '/ResourceTypes/User', '/Schemas', `/Schemas/${USER_SCHEMA}`];
    for (const path of paths) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        it(`${method} ${path} → 405 SCIM error with Allow: GET`, async () => {
          const res = await scim.request(method, path, method === 'DELETE' ? undefined : { schemas: [SCHEMA_SCHEMA], id: 'x' });
          expectError(res, 405);
          expect(res.headers.get('allow')).to.equal('GET');
        });
      }
    }

    it('405 does not depend on a token, and a write token changes nothing', async () => {
      const withToken = scimClient(server.scimUrl, await server.token());
      const res = await withToken.put('/ServiceProviderConfig', { patch: { supported: false } });
      expectError(res, 405);
      expect((await scim.get('/ServiceProviderConfig')).body.patch).to.deep.equal({ supported: true });
    });
  });

  describe('meta.location follows the request host when no public URL is configured', () => {
    let local: TestServer;
    before(async () => {
      local = await startTestServer(database().db);
    });
    after(() => local.close());

    it('uses the host the client called', async () => {
      const client = scimClient(local.scimUrl);
      expect((await client.get('/ServiceProviderConfig')).body.meta.location).to.equal(`${local.scimUrl}/ServiceProviderConfig`);
      expect((await client.get('/ResourceTypes/Group')).body.meta.location).to.equal(`${local.scimUrl}/ResourceTypes/Group`);
      expect((await client.get(`/Schemas/${GROUP_SCHEMA}`)).body.meta.location).to.equal(`${local.scimUrl}/Schemas/${GROUP_SCHEMA}`);
    });
  });
});
