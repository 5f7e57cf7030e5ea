// The one place `tern ctl` speaks HTTP: a node's /api/v5 with an API key (Basic) or an
// administrator's login (Bearer), and every way a request can fail turned into one sentence and
// an exit code (CliError). Commands call get/post/put/del and never see a Response.

/** Exit codes, documented in `tern ctl --help`. */
export const EXIT = {
  ok: 0,
  /** the API refused the request (4xx other than 401) or failed (5xx) */
  refused: 1,
  /** bad arguments or options */
  usage: 2,
  /** no answer from the node */
  unreachable: 3,
  /** the credentials were not accepted (401) */
  credentials: 4,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Connection {
  /** e.g. http://127.0.0.1:18083; /api/v5 is added */
  url: string;
  apiKey?: { key: string; secret: string };
  username?: string;
  password?: string;
  timeoutMs?: number;
}

/** The administrator Tern creates on first start (dashboard.default_user). */
export const DEFAULT_LOGIN = { username: 'admin', password: 'public' };

export type Query = Record<string, string | number | boolean | undefined>;

export interface ApiClient {
  readonly url: string;
  get<T = unknown>(path: string, query?: Query, opts?: { auth?: boolean }): Promise<T>;
  post<T = unknown>(path: string, body?: unknown, query?: Query): Promise<T>;
  put<T = unknown>(path: string, body?: unknown): Promise<T>;
  del(path: string): Promise<void>;
}

/** "/clients/{id}" with each segment URL-encoded: client ids may hold "/", "#", spaces. */
export function pathOf(...segments: string[]): string {
  return '/' + segments.map((s) => encodeURIComponent(s)).join('/');
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
};

function networkReason(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string; errors?: { code?: string }[] }; message?: string };
  if (e.name === 'TimeoutError') return 'no answer in time';
  // "localhost" resolves to ::1 and 127.0.0.1: the refusal is an AggregateError of both.
  const code = e.cause?.code ?? e.cause?.errors?.[0]?.code;
  if (code && NETWORK_REASONS[code]) return NETWORK_REASONS[code];
  return e.cause?.message ?? e.message ?? String(err);
}

export function createApiClient(conn: Connection): ApiClient {
  let base: URL;
  try {
    base = new URL(conn.url);
  } catch {
    throw new CliError(`--url ${JSON.stringify(conn.url)} is not a URL (expected e.g. http://127.0.0.1:18083)`, EXIT.usage);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new CliError(`--url ${conn.url}: expected an http:// or https:// address`, EXIT.usage);
  }
  const shown = base.origin + base.pathname.replace(/\/$/, '');
  const apiRoot = shown.replace(/\/api\/v5$/, '') + '/api/v5';
  const timeoutMs = conn.timeoutMs ?? 30_000;
  const usingDefaultLogin = !conn.apiKey && conn.username === undefined && conn.password === undefined;
  let bearer: Promise<string> | undefined;

  async function send(method: string, path: string, opts: { body?: unknown; query?: Query; auth?: string }): Promise<Response> {
    const url = new URL(apiRoot + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.auth) headers.authorization = opts.auth;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new CliError(`cannot reach Tern at ${shown}: ${networkReason(err)}`, EXIT.unreachable);
    }
  }

  async function failure(res: Response, method: string, path: string): Promise<CliError> {
    const text = await res.text().catch(() => '');
    let code: string | undefined;
    let message: string | undefined;
    try {
      const body = JSON.parse(text) as { code?: unknown; message?: unknown };
      if (typeof body.code === 'string') code = body.code;
      if (typeof body.message === 'string') message = body.message;
    } catch {
      // not JSON: something other than Tern answered (a proxy, another server)
    }
    if (message === undefined) {
      return new CliError(`${method} ${path}: HTTP ${res.status} ${res.statusText} from ${shown} (is this a Tern node?)`, EXIT.refused);
    }
    if (res.status === 401) {
      const hint = usingDefaultLogin
        ? ' (no credentials given, so the default admin login was tried: pass --api-key key:secret or --username/--password, or set TERN_API_KEY or TERN_USERNAME/TERN_PASSWORD)'
        : '';
      return new CliError(`credentials refused by Tern at ${shown}: ${message} (${code})${hint}`, EXIT.credentials);
    }
    if (res.status === 404 && code === 'NOT_FOUND' && message.startsWith('no route')) {
      return new CliError(`Tern at ${shown} has no ${method} /api/v5${path} (${code}, HTTP 404): this node's version does not serve it`, EXIT.refused);
    }
    return new CliError(`${message} (${code ?? 'ERROR'}, HTTP ${res.status})`, EXIT.refused);
  }

  async function login(): Promise<string> {
    const creds = usingDefaultLogin ? DEFAULT_LOGIN : { username: conn.username ?? '', password: conn.password ?? '' };
    const res = await send('POST', '/login', { body: creds });
    if (!res.ok) throw await failure(res, 'POST', '/login');
    return ((await res.json()) as { token: string }).token;
  }

  async function authorization(): Promise<string> {
    if (conn.apiKey) return 'Basic ' + Buffer.from(`${conn.apiKey.key}:${conn.apiKey.secret}`).toString('base64');
    bearer ??= login();
    return 'Bearer ' + (await bearer);
  }

  async function request<T>(method: string, path: string, opts: { body?: unknown; query?: Query; auth?: boolean } = {}): Promise<T> {
    const auth = opts.auth === false ? undefined : await authorization();
    const res = await send(method, path, { ...opts, auth });
    if (!res.ok) throw await failure(res, method, path);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  return {
    url: shown,
    get: (path, query, opts) => request('GET', path, { query, auth: opts?.auth }),
    post: (path, body, query) => request('POST', path, { body, query }),
    put: (path, body) => request('PUT', path, { body }),
    del: async (path) => {
      await request('DELETE', path);
    },
  };
}

/** Every row of a paged list (`{data, meta: {count}}`), fetched page by page. */
export async function listAll<T>(api: ApiClient, path: string, query: Query = {}): Promise<T[]> {
  const limit = 10_000;
  const rows: T[] = [];
  for (let page = 1; ; page++) {
    const res = await api.get<{ data: T[]; meta?: { count?: number } } | T[]>(path, { ...query, page, limit });
    // The APIs other issues add may answer a bare array.
    if (Array.isArray(res)) return res;
    rows.push(...res.data);
    if (res.data.length < limit || (res.meta?.count !== undefined && rows.length >= res.meta.count)) return rows;
  }
}
