// One webhook request: POST the JSON body with the hook's headers, signed when the hook has a
// secret, within its timeout, following no redirect and reading at most MAX_RESPONSE_BYTES of the
// answer. Anything but a complete 2xx answer is a failure with a message saying what happened;
// nothing here throws.
import { createHmac } from 'node:crypto';
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
export function signatureHeaders(secret: string, body: string, now = Date.now()): Record<string, string> {
  const ts = String(Math.floor(now / 1000));
  return { 'x-tern-timestamp': ts, 'x-tern-signature': 'sha256=' + createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex') };
}

export async function send(hook: Pick<Hook, 'url' | 'headers' | 'secret' | 'timeout'>, body: string, userAgent: string, stop?: AbortSignal): Promise<SendResult> {
  const t0 = performance.now();
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': userAgent, ...hook.headers };
  if (hook.secret) Object.assign(headers, signatureHeaders(hook.secret, body));
  const timeout = AbortSignal.timeout(hook.timeout);
  const signal = stop ? AbortSignal.any([timeout, stop]) : timeout;
  const result = (ok: boolean, status: number | null, text: string, error: string | null): SendResult => ({
    ok,
    status,
    body: text,
    error,
    ms: performance.now() - t0,
  });
  let res: Response;
  try {
    res = await fetch(hook.url, { method: 'POST', body, headers, redirect: 'manual', signal });
  } catch (err) {
    return result(false, null, '', failure(err, hook.timeout, timeout, stop));
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => {});
    const to = res.headers.get('location');
    return result(false, res.status, '', `HTTP ${res.status} redirect${to ? ` to ${to}` : ''} not followed: point the hook at the final URL`);
  }
  let text: string;
  try {
    text = await readCapped(res);
  } catch (err) {
    return result(false, res.status, '', failure(err, hook.timeout, timeout, stop));
  }
  if (res.status < 200 || res.status >= 300) {
    return result(false, res.status, text, `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
  }
  return result(true, res.status, text, null);
}

class TooLarge extends Error {}

async function readCapped(res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_RESPONSE_BYTES) {
    await res.body?.cancel().catch(() => {});
    throw new TooLarge(`response body of ${declared} bytes is larger than ${MAX_RESPONSE_BYTES}: not read`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const kept: Uint8Array[] = [];
  let keptBytes = 0;
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => {});
      throw new TooLarge(`response body larger than ${MAX_RESPONSE_BYTES} bytes: stopped reading`);
    }
    if (keptBytes < KEPT_BYTES) {
      kept.push(value);
      keptBytes += value.byteLength;
    }
  }
  return Buffer.concat(kept).subarray(0, KEPT_BYTES).toString('utf8');
}

function failure(err: unknown, timeoutMs: number, timeout: AbortSignal, stop: AbortSignal | undefined): string {
  if (err instanceof TooLarge) return err.message;
  if (timeout.aborted) return `no complete answer within the timeout (${timeoutMs} ms)`;
  if (stop?.aborted) return 'cancelled (the hook was changed or Tern is stopping)';
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.message ?? e.cause?.code;
  return cause ? `${e.message}: ${cause}` : e.message;
}
