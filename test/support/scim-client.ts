/** A minimal SCIM client over fetch for tests: JSON in, status, headers and JSON out. */
export interface ScimResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface ScimClient {
  request<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ScimResponse<T>>;
  get<T = any>(path: string, headers?: Record<string, string>): Promise<ScimResponse<T>>;
  post<T = any>(path: string, body: unknown, headers?: Record<string, string>): Promise<ScimResponse<T>>;
  put<T = any>(path: string, body: unknown, headers?: Record<string, string>): Promise<ScimResponse<T>>;
  patch<T = any>(path: string, body: unknown, headers?: Record<string, string>): Promise<ScimResponse<T>>;
  delete<T = any>(path: string, headers?: Record<string, string>): Promise<ScimResponse<T>>;
}

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** A client for `scimUrl` sending `token` as a bearer token; a string body is sent as is. */
export function scimClient(scimUrl: string, token?: string): ScimClient {
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${scimUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed as any, text };
  };
  return {
    request,
    get: (path, headers) => request('GET', path, undefined, headers),
    post: (path, body, headers) => request('POST', path, body, headers),
    put: (path, body, headers) => request('PUT', path, body, headers),
    patch: (path, body, headers) => request('PATCH', path, body, headers),
    delete: (path, headers) => request('DELETE', path, undefined, headers),
  };
}

let userCounter = 0;

/** A unique, valid User body; `extra` overrides or adds attributes. */
export function newUser(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const n = `${Date.now().toString(36)}${(++userCounter).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return {
    schemas: [USER_SCHEMA, ENTERPRISE],
    userName: `user.${n}@example.com`,
    externalId: `ext-${n}`,
    displayName: `User ${n}`,
    name: { givenName: 'Test', familyName: `Person ${n}` },
    emails: [{ value: `user.${n}@example.com`, type: 'work', primary: true }],
    [ENTERPRISE]: { employeeNumber: `E${n}`, department: 'Engineering' },
    ...extra,
  };
}

/** A patch body from operations. */
export function patchOf(...Operations: unknown[]): Record<string, unknown> {
  return { schemas: [PATCH_OP], Operations };
}
