/** A minimal JSON-over-HTTP client for tests: JSON in, status, headers, text and parsed JSON out. */
export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface JsonClient {
  request<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<JsonResponse<T>>;
  get<T = any>(path: string, headers?: Record<string, string>): Promise<JsonResponse<T>>;
  post<T = any>(path: string, body: unknown, headers?: Record<string, string>): Promise<JsonResponse<T>>;
  put<T = any>(path: string, body: unknown, headers?: Record<string, string>): Promise<JsonResponse<T>>;
  patch<T = any>(path: string, body: unknown, headers?: Record<string, string>): Promise<JsonResponse<T>>;
  delete<T = any>(path: string, headers?: Record<string, string>): Promise<JsonResponse<T>>;
}

/**
 * A client for `baseUrl` sending `token` as a bearer token and bodies as `contentType`; a string
 * body is sent as is, and a reply that is not JSON leaves `body` undefined. `inspect` sees every
 * response before the caller does (and may throw).
 */
export function jsonClient(baseUrl: string, contentType: string, token?: string, inspect?: (method: string, path: string, res: JsonResponse) => void): JsonClient {
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': contentType } : {}),
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
    const response: JsonResponse = { status: res.status, headers: res.headers, body: parsed as any, text };
    inspect?.(method, path, response);
    return response;
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
