// A real HTTP endpoint for webhook tests, on a port the OS picks. It records every request, and
// can answer 200 (default), answer another status, hang (hold requests until release()), or be
// down (not listening: connections are refused) and come back on the same port.
import http from 'node:http';
import net from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** the events in the body: the object, or each element of an array */
  events: Record<string, unknown>[];
  /** the status it was answered with (undefined while held or when never answered) */
  status?: number;
}

export type Mode = { kind: 'ok' } | { kind: 'status'; status: number; body?: string } | { kind: 'hang' } | { kind: 'custom'; handle: (req: http.IncomingMessage, res: http.ServerResponse) => void };

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  mode: Mode;
  /** events of requests answered 2xx, in arrival order */
  delivered(): Record<string, unknown>[];
  /**
   * resolves once check() holds (re-checked on every request), rejects after timeoutMs (60 s by
   * default: a first delivery waits for the delivery thread to start, which compiles its modules
   * and takes seconds on a cold cache and a busy machine)
   */
  until<T>(check: () => T | undefined | false, what: string, timeoutMs?: number): Promise<T>;
  /** answers held requests with 200 and stops hanging */
  release(): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(path = '/hook'): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const held: { rec: ReceivedRequest; res: http.ServerResponse }[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  let server: http.Server;
  let port = 0;
  const sockets = new Set<net.Socket>();

  const self: Receiver = {
    url: '',
    port: 0,
    requests,
    mode: { kind: 'ok' },
    delivered: () => requests.filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300).flatMap((r) => r.events),
    until(check, what, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const test = () => {
          const v = check();
          if (v === undefined || v === false) return false;
          waiters.delete(test);
          clearTimeout(timer);
          resolve(v as never);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(test);
          reject(new Error(`receiver: timed out waiting for ${what} (${requests.length} requests so far)`));
        }, timeoutMs);
        if (!test()) waiters.add(test);
      });
    },
    release() {
      self.mode = { kind: 'ok' };
      for (const h of held.splice(0)) {
        h.rec.status = 200;
        h.res.end('{}');
      }
      notify();
    },
    async down() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    async up() {
      await listen();
    },
    async close() {
      for (const h of held.splice(0)) h.res.destroy();
      await self.down();
    },
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const events = Array.isArray(parsed) ? (parsed as Record<string, unknown>[]) : parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
      const rec: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, events };
      requests.push(rec);
      const mode = self.mode;
      if (mode.kind === 'hang') held.push({ rec, res });
      else if (mode.kind === 'custom') mode.handle(req, res);
      else {
        const status = mode.kind === 'status' ? mode.status : 200;
        rec.status = status;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(mode.kind === 'status' ? (mode.body ?? '{"error":"failing on purpose"}') : '{}');
      }
      notify();
    });
  };

  function listen(): Promise<void> {
    server = http.createServer(handler);
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as net.AddressInfo).port;
        self.port = port;
        self.url = `http://127.0.0.1:${port}${path}`;
        resolve();
      });
    });
  }
  await listen();
  return self;
}

/**
 * The events a hook has in the outbox's tables (rows of their own and blocks, server/hooks/block.ts),
 * counted from SQL on a connection of the caller's: what is committed, as another process sees it.
 */
export const OUTBOX_EVENTS_SQL = `SELECT (SELECT count(*) FROM webhook_outbox WHERE hook_id = @hook)
  + (SELECT coalesce(sum(last_id - first_id + 1), 0) FROM webhook_outbox_block WHERE hook_id = @hook) AS n`;
