import { expect } from 'chai';
import { connect } from 'node:net';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Sends one raw HTTP/1.1 request: the head with `withHead` in one write, then each of `later`
 * written `pauseMs` apart; returns the status and body of the answer. A body that arrives with its
 * headers is read at once; one that arrives later is waited for; both must read the same.
 */
function rawRequest(url: string, head: string, withHead: string, later: string[] = [], pauseMs = 30): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => { answer += text; });
    socket.on('error', reject);
    socket.on('end', () => {
      const [top, ...rest] = answer.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(top ?? '')?.[1]), body: rest.join('\r\n\r\n') });
    });
    socket.on('connect', async () => {
      socket.write(`${head}\r\n\r\n${withHead}`);
      for (const piece of later) {
        await new Promise((r) => setTimeout(r, pauseMs));
        socket.write(piece);
      }
    });
  });
}

onEachDatabase('HTTP request bodies', (database) => {
  let server: TestServer;
  let token: string;
  const MAX_BODY = 512;

  before(async () => {
    server = await startTestServer(database().db, { api: { maxBodyBytes: MAX_BODY, maxBatchChecks: 3 } });
    token = await server.token('authz:check');
  });
  after(() => server.close());

  const check = JSON.stringify({ subject: 'nobody@example.com', object: '/repos/api', action: 'read' });
  const head = (length: number) => [
    'POST /api/v1/authz/check HTTP/1.1', `Host: 127.0.0.1`, `Authorization: Bearer ${token}`,
    'Content-Type: application/json', `Content-Length: ${length}`, 'Connection: close',
  ].join('\r\n');

  it('reads a body sent with its headers and one sent in pieces after them alike', async () => {
    const atOnce = await rawRequest(server.apiUrl, head(check.length), check);
    const inPieces = await rawRequest(server.apiUrl, head(check.length), '', [check.slice(0, 10), check.slice(10, 30), check.slice(30)]);
    for (const res of [atOnce, inPieces]) {
      expect(res.status, res.body).to.equal(200);
      expect(JSON.parse(res.body)).to.include({ allowed: false });
      expect(JSON.parse(res.body).reason).to.include('unknown subject "nobody@example.com"');
    }
  });

  it('refuses with 413 a body over the limit, whether it came at once or in pieces', async () => {
    const big = JSON.stringify({ subject: 'x'.repeat(MAX_BODY), object: '/o', action: 'read' });
    const atOnce = await rawRequest(server.apiUrl, head(big.length), big);
    // Pieces without a declared length: the limit is found while reading.
    const chunked = ['POST /api/v1/authz/check HTTP/1.1', 'Host: 127.0.0.1', `Authorization: Bearer ${token}`, 'Content-Type: application/json', 'Transfer-Encoding: chunked', 'Connection: close'].join('\r\n');
    const piece = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;
    const inPieces = await rawRequest(server.apiUrl, chunked, '', [piece(big.slice(0, 300)), piece(big.slice(300)), '0\r\n\r\n']);
    for (const res of [atOnce, inPieces]) {
      expect(res.status, res.body).to.equal(413);
      expect(JSON.parse(res.body).error.code).to.be.a('string');
    }
  });
});
