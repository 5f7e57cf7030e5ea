// Webhook scenarios (issue 10): the cost of a hook to the broker. Each scenario runs its phases on
// one broker process, one after the other, so the ratios are paired within the run: no hook, a
// hook whose local receiver answers at once, the same hook with the receiver hanging (every
// request held until its 60 s timeout), no hook again. The receiver is an HTTP server in this
// harness process.
// Throughput hooks batch (batch_size 500, batch_time 20 ms: one JSON array per POST): the documented setting for a
// hook on every message; one POST per message cannot keep up with a flood, and would only show
// the outbox filling to web.hook.outbox_max and dropping (which the hanging phase shows anyway).
import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { apiLogin, type ApiClient } from './api.ts';
import { mainThreadCpuMs, type RunningBroker } from './brokers.ts';
import type { Measurement, Scenario, ScenarioParams } from './scenarios.ts';
import { runTrafficShape } from './scenarios.ts';
import type { TrafficSpec } from './spec.ts';
import { percentiles } from './stats.ts';
import type { LoadEvent } from './spec.ts';
import { DISCONNECT_PACKET, openClient } from './wire.ts';

const PAYLOAD = 64;

interface Receiver {
  url: string;
  /** events received in bodies answered 200 */
  events: number;
  hang: boolean;
  /** resolves at the next request that arrives (answered or held) */
  nextRequest(): Promise<void>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const held = new Set<http.ServerResponse>();
  let arrived: (() => void)[] = [];
  const self: Receiver = {
    url: '',
    events: 0,
    hang: false,
    close: async () => {},
    nextRequest: () => new Promise<void>((resolve) => arrived.push(resolve)),
  };
  const server = http.createServer((req, res) => {
    // the broker aborts requests it gave up on (timeout, shutdown): not an error here
    req.on('error', () => {});
    res.on('error', () => {});
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const waiting = arrived;
      arrived = [];
      for (const fn of waiting) fn();
      if (self.hang) {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      const body = Buffer.concat(chunks);
      // count events without parsing: one "action" per event
      let n = 0;
      for (let i = body.indexOf('"action"'); i >= 0; i = body.indexOf('"action"', i + 8)) n++;
      self.events += n;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  self.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`;
  self.close = () =>
    new Promise<void>((resolve) => {
      for (const r of held) r.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return self;
}

/**
 * One API request on a fresh login: the phases outlast the server's keep-alive timeout. A reset
 * connection (the server closing an idle keep-alive socket as the request leaves) is retried.
 */
async function call(broker: RunningBroker, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<Record<string, unknown>> {
  for (let attempt = 1; ; attempt++) {
    const api: ApiClient = await apiLogin(broker.host, broker.httpPort!);
    try {
      const r = method === 'GET' ? await api.get(path) : await api.send(method, path, body);
      if (r.status >= 300) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)?.slice(0, 300)}`);
      return (r.body ?? {}) as Record<string, unknown>;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (attempt >= 3 || (code !== 'ECONNRESET' && code !== 'EPIPE')) throw new Error(`${method} ${path}: ${(err as Error).message}`);
    } finally {
      api.close();
    }
  }
}

const perSecond = (n: number, spec: TrafficSpec): number => n / (spec.measureMs / 1000);

/**
 * One traffic phase, with the broker's main-thread CPU over its measure window as well as the
 * whole process's: the main thread is what bounds the broker's throughput (the delivery thread
 * runs on the other core), and its time is less sensitive to what else the machine runs.
 */
async function trafficPhase(broker: RunningBroker, p: ScenarioParams, shape: Parameters<typeof runTrafficShape>[2]) {
  let start = NaN;
  let end = NaN;
  const onEvent = (e: LoadEvent) => {
    if (e.event === 'measure-start') start = mainThreadCpuMs(broker.pid);
    else if (e.event === 'measure-end') end = mainThreadCpuMs(broker.pid);
  };
  const r = await runTrafficShape(broker, p, shape, onEvent);
  return { ...r, mainMs: end - start };
}
const needsApi = (v: { api?: unknown }): string | undefined => (v.api ? undefined : 'needs the REST management API (hooks), which only Tern has');
const mb = (kb: number) => kb / 1024;

function throughputScenario(qos: 0 | 1): Scenario {
  const name = `webhook-qos${qos}`;
  // a fresh client-id prefix per phase: the last phase's clients may still be closing
  const shape = (phase: string) => ({
    subscribers: [{ count: 1, topic: `bench/wh${qos}/+`, qos, clientIdPrefix: `wh${qos}-${phase}-sub` }],
    publishers: [{ count: 10, topic: `bench/wh${qos}/{i}`, qos, payloadBytes: PAYLOAD, clientIdPrefix: `wh${qos}-${phase}-pub`, ...(qos === 1 ? { window: 100 } : {}) }],
  });
  return {
    name,
    description:
      `10 publishers flood QoS ${qos} (64 B${qos === 1 ? ', at most 100 unacknowledged each' : ''}) to 1 subscriber; msg/s received with no hook, ` +
      'with a message.publish hook on every message (batch_size 500, batch_time 20 ms) to a local receiver, with that receiver hanging, then with no hook again (no hook = the mean of both); ' +
      `ratios to no hook (target >= 0.7${qos === 1 ? '; QoS 1 PUBACKs wait for the outbox commit' : ''}), broker RSS growth and outbox size while hanging, ` +
      'broker CPU per message (whole process, and main thread only). Tern only',
    metrics: [
      { name: `${name}-nohook`, unit: 'msg/s', better: 'higher' },
      { name: `${name}-hook`, unit: 'msg/s', better: 'higher' },
      { name: `${name}-hook-ratio`, unit: '×', better: 'higher', target: 0.7 },
      { name: `${name}-hang-ratio`, unit: '×', better: 'higher', target: 0.7 },
      { name: `${name}-hang-rss-growth`, unit: 'MB', better: 'lower' },
      // broker CPU per message received by the subscriber: far less sensitive to other load on
      // the machine than msg/s
      { name: `${name}-cpu-nohook`, unit: 'µs', better: 'lower' },
      { name: `${name}-cpu-hook`, unit: 'µs', better: 'lower' },
      { name: `${name}-cpu-hang`, unit: 'µs', better: 'lower' },
      // the same for the broker's main thread only (the event loop: what bounds throughput)
      { name: `${name}-main-nohook`, unit: 'µs', better: 'lower' },
      { name: `${name}-main-hook`, unit: 'µs', better: 'lower' },
      { name: `${name}-main-hang`, unit: 'µs', better: 'lower' },
      { name: `${name}-main-hook-ratio`, unit: '×', better: 'higher' },
    ],
    skip: needsApi,
    async run(broker: RunningBroker, p: ScenarioParams): Promise<Measurement> {
      const notes: string[] = [];
      const rx = await startReceiver();
      try {
        const phase = (what: string) => (err: unknown): never => {
          throw new Error(`${what}: ${(err as Error).message}${broker.exited() ? `; broker: ${broker.exited()}` : ''}`);
        };
        const base = await trafficPhase(broker, p, shape('none')).catch(phase('no hook'));
        const hook = await call(broker, 'POST', '/api/v5/hooks', { name: 'bench', url: rx.url, events: ['message.publish'], batch_size: 500, batch_time: 20, timeout: 60_000 });
        const withHook = await trafficPhase(broker, p, shape('hook')).catch(phase('hook'));
        const hooked = perSecond(withHook.result.received, withHook.spec);
        const stats1 = (await call(broker, 'GET', `/api/v5/hooks/${hook.id}`)) as { stats: Record<string, number> };
        notes.push(`receiving: ${rx.events} events delivered, ${stats1.stats.pending} pending, ${stats1.stats.dropped} dropped; latency p50 ${stats1.stats.latency_p50_ms} ms`);

        rx.hang = true;
        const rssBefore = broker.rssKB();
        const hanging = await trafficPhase(broker, p, shape('hang')).catch(phase('hanging'));
        const hung = perSecond(hanging.result.received, hanging.spec);
        const rssAfter = broker.rssKB();
        const stats2 = (await call(broker, 'GET', `/api/v5/hooks/${hook.id}`)) as { stats: Record<string, number> };
        notes.push(`hanging: outbox ${stats2.stats.pending} pending (bound web.hook.outbox_max), ${stats2.stats.dropped} dropped in all; RSS ${Math.round(mb(rssBefore))} → ${Math.round(mb(rssAfter))} MB`);
        await call(broker, 'DELETE', `/api/v5/hooks/${hook.id}`);
        // A B C A: the no-hook figure is the mean of a window before and one after the hook
        // windows, so a change of the machine's load during the run shifts both sides alike
        const after = await trafficPhase(broker, p, shape('after')).catch(phase('no hook, after'));
        const nohook = (perSecond(base.result.received, base.spec) + perSecond(after.result.received, after.spec)) / 2;
        const perMsg = (ms: number, n: number) => (ms * 1000) / n;
        const cpuNohook = (perMsg(base.cpu.brokerMs, base.result.received) + perMsg(after.cpu.brokerMs, after.result.received)) / 2;
        const mainNohook = (perMsg(base.mainMs, base.result.received) + perMsg(after.mainMs, after.result.received)) / 2;
        const mainHook = perMsg(withHook.mainMs, withHook.result.received);
        notes.push(`no hook: ${Math.round(perSecond(base.result.received, base.spec))} msg/s before, ${Math.round(perSecond(after.result.received, after.spec))} after`);
        notes.push(...base.notes, ...withHook.notes, ...hanging.notes, ...after.notes);
        return {
          values: {
            [`${name}-nohook`]: nohook,
            [`${name}-hook`]: hooked,
            [`${name}-hook-ratio`]: hooked / nohook,
            [`${name}-hang-ratio`]: hung / nohook,
            [`${name}-hang-rss-growth`]: mb(rssAfter - rssBefore),
            [`${name}-cpu-nohook`]: cpuNohook,
            [`${name}-cpu-hook`]: perMsg(withHook.cpu.brokerMs, withHook.result.received),
            [`${name}-cpu-hang`]: perMsg(hanging.cpu.brokerMs, hanging.result.received),
            [`${name}-main-nohook`]: mainNohook,
            [`${name}-main-hook`]: mainHook,
            [`${name}-main-hang`]: perMsg(hanging.mainMs, hanging.result.received),
            // what the throughput ratio would be with the main thread as the only bound
            [`${name}-main-hook-ratio`]: mainNohook / mainHook,
          },
          cpu: withHook.cpu,
          notes,
        };
      } catch (err) {
        const { readFileSync } = await import('node:fs');
        let log = '';
        try {
          log = readFileSync(broker.logFile, 'utf8').split('\n').slice(-5).join('\n');
        } catch {
          // no log
        }
        throw new Error(`${(err as Error).stack}${broker.exited() ? `; broker ${broker.exited()}` : ''}; broker log: ${log}`);
      } finally {
        await rx.close();
      }
    },
  };
}

/** `count` connects one after another (clean, keepalive 60), each timed to its CONNACK, then all closed */
async function timedConnects(broker: RunningBroker, prefix: string, count: number): Promise<{ rate: number; p50: number; p99: number; cpuUs: number; mainUs: number; ms: number[] }> {
  const socks: net.Socket[] = [];
  const ms: number[] = [];
  const cpu0 = broker.cpuMs();
  const main0 = mainThreadCpuMs(broker.pid);
  const t0 = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      socks.push(await openClient({ host: broker.host, port: broker.port, clientId: `${prefix}${i}`, keepalive: 60, clean: true, onLost: () => {}, onPacket: () => {} }));
      ms.push(performance.now() - t);
    }
  } finally {
    for (const s of socks) s.end(DISCONNECT_PACKET);
  }
  const elapsed = performance.now() - t0;
  const cpuUs = ((broker.cpuMs() - cpu0) * 1000) / count;
  const mainUs = ((mainThreadCpuMs(broker.pid) - main0) * 1000) / count;
  // the broker closes each socket once it has handled its DISCONNECT: the next phase starts on an
  // idle broker, not behind N disconnects (its first connect otherwise waited 30-90 ms for them)
  await Promise.all(socks.map((s) => (s.closed ? undefined : new Promise((resolve) => s.once('close', resolve)))));
  const [p50, p99] = percentiles(Float64Array.from(ms), [50, 99]);
  return { rate: count / (elapsed / 1000), p50: p50!, p99: p99!, cpuUs, mainUs, ms };
}

/**
 * untimed phases of N connects before each timed block: V8 takes ~10,000 connects to settle the
 * connect path, at the start and again after a listener on client.connected comes or goes (the
 * main thread and V8's compiler and GC threads busy meanwhile: measured per thread). With 5
 * phases the hook phases still cost 1.14-1.26× the CPU per connect of the others (3 runs); with
 * 12, 1.01-1.04× (2 runs), as the profile of the hook's own work per connect says.
 */
const WARM_PHASES = 12;
/**
 * The untimed phases also last at least this long after the process starts and after the first
 * hook starts the delivery thread: each new isolate (the delivery thread, tsx's loader thread) runs V8's memory reducer
 * once, three full GCs of 5-12 ms each ~8-10 s after it starts, on a core the broker and the
 * harness share (seen with --trace-gc, as mark-compacts of those isolates in timed phases)
 */
const THREAD_SETTLE_MS = 12_000;

function connectScenario(): Scenario {
  return {
    name: 'webhook-connect',
    description:
      'N clients (2,000; --quick 500) connect one at a time, each timed to its CONNACK, with no hook and then with a client.connected hook whose receiver hangs; ' +
      'connects/s ratio (target >= 0.9) and CONNACK latency p99 ratio (target <= 1.2; the p99 of all 4 × N connects of each kind) hook/no hook, in AABBBBAA order (no hook twice, the hook four times, no hook twice). Tern only',
    metrics: [
      { name: 'webhook-connect-rate-ratio', unit: '×', better: 'higher', target: 0.9 },
      { name: 'webhook-connect-p99-ratio', unit: '×', better: 'lower', target: 1.2 },
      { name: 'webhook-connect-p99-hook', unit: 'ms', better: 'lower' },
      { name: 'webhook-connect-cpu-ratio', unit: '×', better: 'lower' },
      // A/A: the last two no-hook phases' p99 over the first two's, how far the method reads
      // with no difference at all (no target)
      { name: 'webhook-connect-p99-aa', unit: '×', better: 'lower' },
    ],
    skip: needsApi,
    async run(broker, p) {
      const n = p.quick ? 500 : 2000;
      const rx = await startReceiver();
      rx.hang = true;
      try {
        // warm-up, untimed: a fresh broker's connect path takes ~6,000 connects to settle (JIT
        // tiers, heap sizing): 765, 395, 330, 270 µs of CPU per connect in four phases of 2,000
        // with no hook. The AABBBBAA order cancels a linear drift, not that curve.
        /** WARM_PHASES untimed phases, and more until THREAD_SETTLE_MS after `since` when given */
        const untimed = async (prefix: string, since?: number) => {
          for (let w = 0; w < WARM_PHASES || (since !== undefined && performance.now() - since < THREAD_SETTLE_MS); w++) {
            await timedConnects(broker, `${prefix}${w}-`, n);
          }
        };
        await untimed('whc-warm', performance.now());
        const runs: { hook: boolean; r: Awaited<ReturnType<typeof timedConnects>> }[] = [];
        let hookId: unknown;
        // two transitions only (each costs the untimed phases above), four timed phases of each kind
        for (const [k, withHook] of [false, false, true, true, true, true, false, false].entries()) {
          if (withHook && hookId === undefined) {
            const first = rx.nextRequest();
            const created = performance.now();
            hookId = (await call(broker, 'POST', '/api/v5/hooks', { name: 'bench-connect', url: rx.url, events: ['client.connected'], timeout: 60_000 })).id;
            // untimed, like the warm-up above: the first hook starts the delivery thread, which
            // loads and compiles its modules once per process (seconds of CPU on both cores),
            // not the cost per connect; its first request (held by the receiver) says it is up
            await timedConnects(broker, `whc-warmhook-${k}-`, 1);
            await first;
            // and, as at the start, untimed connects: the connect path, now with a listener on
            // client.connected, takes as long to settle again (895, 565, 460, 395, 310 µs per
            // connect in phases of 2,000 after the hook was created, against 345–355 without)
            // (and THREAD_SETTLE_MS since the thread started: its isolates' memory reducer)
            await untimed(`whc-warmhook-${k}-`, created);
          }
          if (!withHook && hookId !== undefined) {
            await call(broker, 'DELETE', `/api/v5/hooks/${hookId}`);
            hookId = undefined;
            // the listener gone, the path settles once more: the same untimed connects
            await untimed(`whc-warmnone-${k}-`);
          }
          runs.push({ hook: withHook, r: await timedConnects(broker, `whc-${k}-`, n) });
        }
        const mean = (hook: boolean, f: (r: Awaited<ReturnType<typeof timedConnects>>) => number) => {
          const xs = runs.filter((x) => x.hook === hook).map((x) => f(x.r));
          return xs.reduce((a, b) => a + b, 0) / xs.length;
        };
        const rate = mean(true, (r) => r.rate) / mean(false, (r) => r.rate);
        // the p99 of all the connects of a kind (4 × N), not a mean of per-phase p99s: a phase's
        // p99 sits at the knee where a few ms-long stalls (a 5 ms scavenge in the broker, the
        // harness's own GC) begin, and moves by 2-3× between two phases of the same kind
        const p99Of = (xs: typeof runs) => percentiles(Float64Array.from(xs.flatMap((x) => x.r.ms)), [99])[0]!;
        const pooled = (hook: boolean) => p99Of(runs.filter((x) => x.hook === hook));
        const p99Hook = pooled(true);
        const p99 = p99Hook / pooled(false);
        const none = runs.filter((x) => !x.hook);
        const p99AA = p99Of(none.slice(none.length / 2)) / p99Of(none.slice(0, none.length / 2));
        return {
          values: {
            'webhook-connect-rate-ratio': rate,
            'webhook-connect-p99-ratio': p99,
            'webhook-connect-p99-hook': p99Hook,
            'webhook-connect-cpu-ratio': mean(true, (r) => r.cpuUs) / mean(false, (r) => r.cpuUs),
            'webhook-connect-p99-aa': p99AA,
          },
          notes: [runs.map((x) => `${x.hook ? 'hook' : 'none'} ${Math.round(x.r.rate)}/s p99 ${x.r.p99.toFixed(2)} ms, broker ${Math.round(x.r.cpuUs)} µs/conn (main thread ${Math.round(x.r.mainUs)})`).join('; ')],
        };
      } finally {
        await rx.close();
      }
    },
  };
}

export function webhookScenarios(): Scenario[] {
  return [throughputScenario(0), throughputScenario(1), connectScenario()];
}
