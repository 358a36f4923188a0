import { Agent, request } from 'node:http';

/** A lean keep-alive JSON client, so the load generator spends little of the shared CPU. */
export function httpClient(baseUrl: string, token: string, maxSockets = 16) {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const url = new URL(baseUrl);
  return function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request({
        agent, host: url.hostname, port: url.port, method, path: `${url.pathname}${path}`,
        headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/scim+json', 'content-length': Buffer.byteLength(payload) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  };
}
