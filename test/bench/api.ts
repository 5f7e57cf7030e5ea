// A small client for Tern's REST management API, used by the API scenarios: log in once, then
// time GETs over one keep-alive connection, the way the dashboard polls. Only 127.0.0.1.

import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface ApiResponse {
  status: number;
  /** parsed JSON body (undefined when empty or not JSON) */
  body: unknown;
  /** request written to last body byte received, ms (JSON parsing not included) */
  ms: number;
  bytes: number;
}

export interface ApiClient {
  get(path: string): Promise<ApiResponse>;
  /** a JSON body, or none */
  post(path: string, body?: unknown): Promise<ApiResponse>;
  /** a request with a JSON body (POST, PUT) or none (DELETE) */
  send(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<ApiResponse>;
  /** a JSON PUT (e.g. to configure the broker between phases of a scenario) */
  put(path: string, body: unknown): Promise<ApiResponse>;
  close(): void;
}

const REQUEST_TIMEOUT_MS = 30_000;

function request(agent: http.Agent, host: string, port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request({ host, port, method, path, agent, headers: { ...headers, ...(body ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        const raw = Buffer.concat(chunks);
        let parsed: unknown;
        try {
          parsed = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, ms, bytes: raw.length });
      });
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Logs in as the default administrator (admin/public), retrying while the HTTP listener is not up
 * yet (Tern opens it after the MQTT listeners the harness waits for), for at most `waitMs`.
 */
export async function apiLogin(host: string, port: number, waitMs = 20_000): Promise<ApiClient> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const deadline = performance.now() + waitMs;
  let token: string | undefined;
  let lastError = '';
  while (token === undefined) {
    try {
      const r = await request(agent, host, port, 'POST', '/api/v5/login', {}, JSON.stringify({ username: 'admin', password: 'public' }));
      const t = (r.body as { token?: unknown } | undefined)?.token;
      if (r.status === 200 && typeof t === 'string') token = t;
      else throw new Error(`POST /api/v5/login answered ${r.status} ${JSON.stringify(r.body)?.slice(0, 200)}`);
    } catch (err) {
      lastError = (err as Error).message;
      if (performance.now() > deadline) {
        agent.destroy();
        throw new Error(`cannot log in to the API on ${host}:${port}: ${lastError}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  return {
    async get(path) {
      return request(agent, host, port, 'GET', path, headers);
    },
    async post(path, body) {
      return request(agent, host, port, 'POST', path, headers, body === undefined ? undefined : JSON.stringify(body));
    },
    async send(method, path, body) {
      return request(agent, host, port, method, path, headers, body === undefined ? undefined : JSON.stringify(body));
    },
    async put(path, body) {
      return request(agent, host, port, 'PUT', path, headers, JSON.stringify(body));
    },
    close: () => agent.destroy(),
  };
}

/** GET that must answer 200 */
export async function getOk(api: ApiClient, path: string): Promise<ApiResponse> {
  const r = await api.get(path);
  if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}: ${JSON.stringify(r.body)?.slice(0, 300)}`);
  return r;
}

/** meta.count of a paginated list answer */
export function listCount(r: ApiResponse): number {
  const n = (r.body as { meta?: { count?: unknown } } | undefined)?.meta?.count;
  return typeof n === 'number' ? n : NaN;
}

/**
 * Sequential timed GETs: `warmup` untimed requests first (JIT, caches), then `count` timed ones,
 * stopping early once `budgetMs` has passed. Returns each timed request's latency, ms.
 */
export async function timeGets(
  api: ApiClient,
  paths: (k: number) => string,
  count: number,
  warmup: number,
  budgetMs = 30_000,
): Promise<{ samples: number[]; last: ApiResponse; cut: boolean }> {
  const t0 = performance.now();
  let last: ApiResponse | undefined;
  for (let k = 0; k < warmup; k++) last = await getOk(api, paths(k));
  const samples: number[] = [];
  for (let k = 0; k < count; k++) {
    if (samples.length > 0 && performance.now() - t0 > budgetMs) return { samples, last: last!, cut: true };
    last = await getOk(api, paths(warmup + k));
    samples.push(last.ms);
  }
  return { samples, last: last!, cut: false };
}
