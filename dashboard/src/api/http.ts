// The one place the dashboard talks HTTP: bearer token, JSON, errors as ApiError with the
// server's {code, message}, and a 401 that sends the user to login (keeping the page).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  /** the endpoint does not exist on this node (a feature it does not have yet) */
  get unavailable(): boolean {
    return this.status === 404 && this.code === 'NOT_FOUND' && this.message.startsWith('no route');
  }
}

const TOKEN_KEY = 'tern.token';
const USER_KEY = 'tern.user';
const DEFAULT_PWD_KEY = 'tern.default_password';

/** API root relative to the page, so the dashboard works under any base path */
export const apiBase = (): string => new URL('api/v5', document.baseURI).pathname;

export const session = {
  get token(): string | null {
    return localStorage.getItem(TOKEN_KEY);
  },
  get username(): string | null {
    return localStorage.getItem(USER_KEY);
  },
  get defaultPassword(): boolean {
    return localStorage.getItem(DEFAULT_PWD_KEY) === '1';
  },
  set(token: string, username: string, defaultPassword: boolean) {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, username);
    localStorage.setItem(DEFAULT_PWD_KEY, defaultPassword ? '1' : '0');
  },
  clearDefaultPassword() {
    localStorage.setItem(DEFAULT_PWD_KEY, '0');
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(DEFAULT_PWD_KEY);
  },
};

let onUnauthorized: () => void = () => {};
/** main.ts wires this to the router */
export function setUnauthorizedHandler(fn: () => void) {
  onUnauthorized = fn;
}

/** for other transports (the live stream) that see a 401 */
export function notifyUnauthorized() {
  session.clear();
  onUnauthorized();
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function buildQuery(q?: Query): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export async function request<T>(method: string, path: string, opts: { query?: Query; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = session.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(apiBase() + path + buildQuery(opts.query), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', 'The node cannot be reached: is Tern running?');
  }
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const body = (data && typeof data === 'object' ? data : {}) as { code?: string; message?: string };
    const err = new ApiError(res.status, body.code ?? `HTTP_${res.status}`, body.message ?? (res.statusText || `HTTP ${res.status}`));
    if (res.status === 401 && path !== '/login') {
      session.clear();
      onUnauthorized();
    }
    throw err;
  }
  return data as T;
}

export const http = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }),
  post: <T>(path: string, body?: unknown, query?: Query) => request<T>('POST', path, { body, query }),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, { body }),
  del: <T = void>(path: string) => request<T>('DELETE', path),
};

export const enc = encodeURIComponent;

export interface Meta {
  page: number;
  limit: number;
  count: number;
  hasnext: boolean;
}
export interface Page<T> {
  data: T[];
  meta: Meta;
}

/** a message for any thrown value */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.status ? `${err.message} (${err.code}, HTTP ${err.status})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
