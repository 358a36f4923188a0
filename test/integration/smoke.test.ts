import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { withScimServer, type TestServer } from '../support/server.js';
import { newUser, type ScimClient } from '../support/scim-client.js';

onEachDatabase('SCIM smoke', (database) => {
  let server!: TestServer;
  let scim!: ScimClient;
  withScimServer(database, (s, c) => ([server, scim] = [s, c]));

  it('creates a user and finds it by userName in any case', async () => {
    const body = newUser();
    const created = await scim.post('/Users', body);
    expect(created.status).to.equal(201);
    expect(created.headers.get('location')).to.equal(`${server.scimUrl}/Users/${created.body.id}`);
    const found = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${String(body.userName).toUpperCase()}"`)}`);
    expect(found.status).to.equal(200);
    expect(found.body.totalResults).to.equal(1);
    expect(found.body.Resources[0].id).to.equal(created.body.id);
  });
});
