// One webhook request: POST the JSON body with the hook's headers, signed when the hook has a
// secret, within its timeout, following no redirect and reading at most MAX_RESPONSE_BYTES of the
// answer. Anything but a complete 2xx answer is a failure with a message saying what happened;
// nothing here throws.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Hook } from './types.ts';

/** a larger answer is a failed delivery: a receiver's answer is read only to report it */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** how much of an answer is kept for errors and the test route */
const KEPT_BYTES = 2048;

export interface SendResult {
  ok: boolean;
  /** the HTTP status, null when no answer came */
  status: number | null;
  /** the start of the answer's body (at most 2 KiB, as text) */
  body: string;
  error: string | null;
  /** from sending to the end of the answer */
  ms: number;
}

/**
 * The signature headers: x-tern-timestamp (Unix seconds) and x-tern-signature
 * "sha256=<hex HMAC-SHA256 of `${timestamp}.${body}` with the secret>". Signing the timestamp
 * with the body lets a receiver refuse replays of old requests.
 */
export function signatureHeaders(secret: string, body: Buffer | string, now = Date.now()): Record<string, string> {
  const ts = String(Math.floor(now / 1000));
  return { 'x-tern-timestamp': ts, 'x-tern-signature': 'sha256=' + createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex') };
}

// One keep-alive agent per scheme for all hooks: connections are reused between deliveries. No
// socket limit: each hook has one request in flight, so a hook whose endpoint hangs holds one
// socket and never makes another hook (to the same host) wait for a free one.
const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

export function send(hook: Pick<Hook, 'url' | 'headers' | 'secret' | 'timeout'>, body: Buffer | string, userAgent: string, stop?: AbortSignal): Promise<SendResult> {
  const t0 = performance.now();
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': userAgent, ...hook.headers, 'content-length': String(payload.length) };
  if (hook.secret) Object.assign(headers, signatureHeaders(hook.secret, payload));
  return new Promise<SendResult>((resolve) => {
    let done = false;
    let req: http.ClientRequest | undefined;
    const finish = (ok: boolean, status: number | null, text: string, error: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stop?.removeEventListener('abort', onStop);
      resolve({ ok, status, body: text, error, ms: performance.now() - t0 });
    };
    const fail = (status: number | null, error: string) => {
      finish(false, status, '', error);
      req?.destroy();
    };
    const timer = setTimeout(() => fail(null, `no complete answer within the timeout (${hook.timeout} ms)`), hook.timeout);
    const onStop = () => fail(null, 'cancelled (the hook was changed or Tern is stopping)');
    if (stop?.aborted) return onStop();
    stop?.addEventListener('abort', onStop, { once: true });
    let url: URL;
    try {
      url = new URL(hook.url);
    } catch {
      return fail(null, `invalid URL ${hook.url}`);
    }
    const mod = url.protocol === 'https:' ? https : http;
    try {
      req = mod.request(url, { method: 'POST', headers, agent: agents[url.protocol as 'http:' | 'https:'] }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          const to = res.headers.location;
          res.resume();
          return fail(status, `HTTP ${status} redirect${to ? ` to ${to}` : ''} not followed: point the hook at the final URL`);
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (declared > MAX_RESPONSE_BYTES) return fail(status, `response body of ${declared} bytes is larger than ${MAX_RESPONSE_BYTES}: not read`);
        const kept: Buffer[] = [];
        let keptBytes = 0;
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > MAX_RESPONSE_BYTES) return fail(status, `response body larger than ${MAX_RESPONSE_BYTES} bytes: stopped reading`);
          if (keptBytes < KEPT_BYTES) {
            kept.push(chunk);
            keptBytes += chunk.length;
          }
        });
        res.on('error', (err) => fail(status, err.message));
        res.on('end', () => {
          const text = Buffer.concat(kept).subarray(0, KEPT_BYTES).toString('utf8');
          if (status < 200 || status >= 300) finish(false, status, text, `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`);
          else finish(true, status, text, null);
        });
      });
    } catch (err) {
      return fail(null, (err as Error).message);
    }
    req.on('error', (err: NodeJS.ErrnoException) => fail(null, err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message));
    req.end(payload);
  });
}
