// The live channel of the Overview: GET /api/v5/monitor/stream (server-sent events, one per
// second) read with fetch so it carries the bearer token. One connection for the whole app,
// opened while someone listens, reconnecting with backoff when it drops.
import { apiBase, notifyUnauthorized, session } from './api/http.ts';
import { createSseParser } from './lib/sse.ts';
import type { MonitorPoint } from './api/monitor.ts';

type Listener = (p: MonitorPoint) => void;
type StatusListener = (s: LiveStatus) => void;
export type LiveStatus = 'connecting' | 'live' | 'retrying' | 'stopped';

const listeners = new Set<Listener>();
const statusListeners = new Set<StatusListener>();
let controller: AbortController | null = null;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let backoff = 1000;
let status: LiveStatus = 'stopped';

function setStatus(s: LiveStatus) {
  status = s;
  for (const l of statusListeners) l(s);
}

async function run(signal: AbortSignal) {
  setStatus('connecting');
  try {
    const res = await fetch(`${apiBase()}/monitor/stream`, {
      headers: { authorization: `Bearer ${session.token ?? ''}`, accept: 'text/event-stream' },
      signal,
    });
    if (res.status === 401) {
      notifyUnauthorized();
      setStatus('stopped');
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const parse = createSseParser();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    setStatus('live');
    backoff = 1000;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of parse(value)) {
        if (ev.event !== 'monitor') continue;
        const point = JSON.parse(ev.data) as MonitorPoint;
        for (const l of listeners) l(point);
      }
    }
  } catch (err) {
    if (signal.aborted) return;
  }
  if (signal.aborted || listeners.size === 0) return;
  setStatus('retrying');
  retryTimer = setTimeout(() => start(), backoff);
  backoff = Math.min(backoff * 2, 30_000);
}

function start() {
  retryTimer = null;
  controller?.abort();
  controller = new AbortController();
  void run(controller.signal);
}

function stop() {
  controller?.abort();
  controller = null;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  setStatus('stopped');
}

/** listen to live points; returns the unsubscribe function */
export function onLive(fn: Listener, onStatus?: StatusListener): () => void {
  listeners.add(fn);
  if (onStatus) {
    statusListeners.add(onStatus);
    onStatus(status);
  }
  if (!controller) start();
  return () => {
    listeners.delete(fn);
    if (onStatus) statusListeners.delete(onStatus);
    if (listeners.size === 0) stop();
  };
}
