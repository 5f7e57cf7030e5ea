// The scenarios: each builds load-generator specs, runs them against one running broker and turns
// the results into named metrics. To add one, append to SCENARIOS, usually through
// trafficScenario() (publishers/subscribers described declaratively, see loadgen.ts); a scenario
// with its own logic implements Scenario.run directly (see connections).

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import { benchDir, cleanEnv, listenOverflows, machineBusyMs, repoRoot, tsxLoader, withNofile, type RunningBroker } from './brokers.ts';
import type { ConnectionsResult, ConnectionsSpec, LoadEvent, LoadResult, LoadSpec, TrafficResult, TrafficSpec } from './spec.ts';

export interface Metric {
  name: string;
  unit: string;
  /** which way is good, for reading the ratios */
  better: 'higher' | 'lower';
}

export interface ScenarioParams {
  quick: boolean;
  /** open-files limit granted to the generator process */
  nofile: number;
  /** connections to open in `connections` (already scaled to the fd limit) */
  connections: number;
  /** overrides the generator process count of throughput scenarios (--workers) */
  workers?: number;
}

/** CPU used during the measure window, as % of one core (the machine has nproc × 100%) */
export interface CpuEvidence {
  brokerPct: number;
  generatorPct: number;
  /** everything else on the machine (other processes, kernel work not charged to either) */
  otherPct: number;
}

export interface Measurement {
  values: Record<string, number>;
  cpu?: CpuEvidence;
  notes: string[];
}

export interface Scenario {
  name: string;
  description: string;
  metrics: Metric[];
  run(broker: RunningBroker, p: ScenarioParams): Promise<Measurement>;
}

// ---- running the generator -----------------------------------------------------------------------

export interface LoadgenRun<R extends LoadResult> {
  /** one per generator process */
  results: R[];
  cpu: CpuEvidence;
}

interface Worker {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
  lines: AsyncIterableIterator<string>;
}

function startWorker(spec: LoadSpec, nofile: number): Worker {
  const [cmd, args] = withNofile(process.execPath, ['--import', tsxLoader, path.join(benchDir, 'loadgen.ts'), JSON.stringify(spec)], nofile);
  const child = spawn(cmd, args, { cwd: repoRoot, env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, exited, stderr: () => stderr, lines };
}

async function nextMessage(w: Worker): Promise<LoadEvent | { result: LoadResult } | undefined> {
  for (;;) {
    const r = await w.lines.next();
    if (r.done) return undefined;
    try {
      return JSON.parse(r.value) as LoadEvent | { result: LoadResult };
    } catch {
      // not ours: ignore
    }
  }
}

/**
 * Runs one generator process per spec against `broker`. With waitForGo, workers connect (or get
 * ready to), report `ready`, and start together on `go`. The broker's CPU time is sampled when the first worker announces
 * the start and the end of its measure window, so both sides cover the same interval.
 * `onConnected` (connections) runs once every worker holds its clients open; they are released after.
 */
export async function runLoadgen<R extends LoadResult>(
  specs: LoadSpec[],
  broker: RunningBroker,
  nofile: number,
  onConnected?: () => Promise<void>,
): Promise<LoadgenRun<R>> {
  const workers = specs.map((s) => startWorker(s, nofile));
  try {
    let brokerStart = NaN;
    let brokerEnd = NaN;
    let machineStart = NaN;
    let machineEnd = NaN;
    let wallStart = 0;
    let wallEnd = 0;
    const results: (R | undefined)[] = [];
    const needGo = specs.some((s) => s.waitForGo);
    let ready = 0;
    let connected = 0;
    const go = (): void => {
      for (const w of workers) w.child.stdin!.write('go\n');
    };
    await Promise.all(
      workers.map(async (w, wi) => {
        for (;;) {
          const msg = await nextMessage(w);
          if (!msg) break;
          if ('result' in msg) {
            results[wi] = msg.result as R;
            continue;
          }
          if (msg.event === 'ready') {
            if (++ready === workers.length && needGo) go();
          } else if (msg.event === 'measure-start' && wi === 0) {
            brokerStart = safeCpu(broker);
            machineStart = machineBusyMs();
            wallStart = performance.now();
          } else if (msg.event === 'measure-end' && wi === 0) {
            brokerEnd = safeCpu(broker);
            machineEnd = machineBusyMs();
            wallEnd = performance.now();
          } else if (msg.event === 'connected' && ++connected === workers.length) {
            // every worker holds its clients open until all have been measured
            try {
              if (onConnected) await onConnected();
            } finally {
              for (const x of workers) x.child.stdin!.end('finish\n');
            }
          }
        }
        const code = await w.exited;
        if (!results[wi]) throw new Error(`load generator ${wi + 1} failed (exit ${code}): ${w.stderr().trim() || 'no output'}`);
      }),
    );
    const done = results as R[];
    const cpuMs = done.reduce((s, r) => s + r.cpu.userMs + r.cpu.systemMs, 0);
    const genWall = Math.max(...done.map((r) => r.cpu.wallMs));
    const wall = wallEnd - wallStart;
    const brokerPct = wall > 0 ? ((brokerEnd - brokerStart) / wall) * 100 : NaN;
    const generatorPct = genWall > 0 ? (cpuMs / genWall) * 100 : NaN;
    const machinePct = wall > 0 ? ((machineEnd - machineStart) / wall) * 100 : NaN;
    return { results: done, cpu: { brokerPct, generatorPct, otherPct: Math.max(0, machinePct - brokerPct - generatorPct) } };
  } finally {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  }
}

function safeCpu(b: RunningBroker): number {
  try {
    return b.cpuMs();
  } catch {
    return NaN;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- declarative traffic scenarios ---------------------------------------------------------------

type TrafficShape = Omit<TrafficSpec, 'kind' | 'host' | 'port' | 'warmupMs' | 'measureMs' | 'timeoutMs' | 'waitForGo'> & {
  warmupMs?: number;
  measureMs?: number;
  /** generator processes to split the clients over (default 1; latency needs 1) */
  workers?: number;
};

/** default timing of throughput scenarios: 1 s warm-up + 5 s measured (--quick: 0.5 + 2) */
export function timing(p: ScenarioParams): { warmupMs: number; measureMs: number } {
  return p.quick ? { warmupMs: 500, measureMs: 2000 } : { warmupMs: 1000, measureMs: 5000 };
}

/** worker w's share of each group: contiguous index ranges, so `{i}` topics stay paired */
function split<G extends { count: number; first?: number }>(groups: G[], workers: number, w: number): G[] {
  return groups
    .map((g) => {
      const per = Math.floor(g.count / workers);
      const extra = g.count % workers;
      const first = w * per + Math.min(w, extra);
      return { ...g, first: (g.first ?? 0) + first, count: per + (w < extra ? 1 : 0) };
    })
    .filter((g) => g.count > 0);
}

/** sum of the workers' counters; latency comes from the (single) worker that measured it */
function combine(results: TrafficResult[]): TrafficResult {
  return {
    kind: 'traffic',
    received: results.reduce((s, r) => s + r.received, 0),
    sent: results.reduce((s, r) => s + r.sent, 0),
    acked: results.reduce((s, r) => s + r.acked, 0),
    cpu: {
      userMs: results.reduce((s, r) => s + r.cpu.userMs, 0),
      systemMs: results.reduce((s, r) => s + r.cpu.systemMs, 0),
      wallMs: Math.max(...results.map((r) => r.cpu.wallMs)),
    },
    latency: results.find((r) => r.latency)?.latency,
    errors: results.flatMap((r) => r.errors),
  };
}

export function trafficScenario(def: {
  name: string;
  description: string;
  metrics: Metric[];
  shape: (p: ScenarioParams) => TrafficShape;
  values: (r: TrafficResult, spec: TrafficSpec) => Record<string, number>;
}): Scenario {
  return {
    name: def.name,
    description: def.description,
    metrics: def.metrics,
    async run(broker, p) {
      const { workers: shapeWorkers, ...shape } = def.shape(p);
      // latency percentiles need every sample in one process (and one clock)
      const workers = shape.latency ? 1 : (p.workers ?? shapeWorkers ?? 1);
      const t = timing(p);
      const warmupMs = shape.warmupMs ?? t.warmupMs;
      const measureMs = shape.measureMs ?? t.measureMs;
      const base: TrafficSpec = {
        ...shape,
        kind: 'traffic',
        host: broker.host,
        port: broker.port,
        warmupMs,
        measureMs,
        timeoutMs: warmupMs + measureMs + (shape.drainMs ?? 0) + 60_000,
        waitForGo: true,
      };
      const specs = Array.from({ length: workers }, (_, w) => ({
        ...base,
        subscribers: split(base.subscribers, workers, w),
        publishers: split(base.publishers, workers, w),
      }));
      const { results, cpu } = await runLoadgen<TrafficResult>(specs, broker, p.nofile);
      const result = combine(results);
      const notes = result.errors.map((e) => `generator: ${e}`);
      if (result.latency && result.latency.lost > 0) notes.push(`${result.latency.lost} timed messages not received within the drain time`);
      return { values: def.values(result, base), cpu, notes };
    },
  };
}

const perSecond = (n: number, spec: TrafficSpec): number => n / (spec.measureMs / 1000);

// ---- the scenarios -------------------------------------------------------------------------------

const PAYLOAD = 64;

export const SCENARIOS: Scenario[] = [
  trafficScenario({
    name: 'qos0-fanin',
    description: '10 publishers (topics bench/fanin/<i>) flood QoS 0, 64 B payloads, to 1 subscriber on bench/fanin/+; messages/s received by the subscriber',
    metrics: [{ name: 'qos0-fanin', unit: 'msg/s', better: 'higher' }],
    shape: () => ({
      subscribers: [{ count: 1, topic: 'bench/fanin/+', qos: 0, clientIdPrefix: 'fanin-sub' }],
      publishers: [{ count: 10, topic: 'bench/fanin/{i}', qos: 0, payloadBytes: PAYLOAD, clientIdPrefix: 'fanin-pub' }],
    }),
    values: (r, s) => ({ 'qos0-fanin': perSecond(r.received, s) }),
  }),
  trafficScenario({
    name: 'qos1-pairs',
    description: '50 publisher/subscriber pairs on distinct topics (bench/pair/<i>), QoS 1 both ways, each publisher keeps at most 100 unacknowledged; messages/s received in total',
    metrics: [{ name: 'qos1-pairs', unit: 'msg/s', better: 'higher' }],
    shape: () => ({
      subscribers: [{ count: 50, topic: 'bench/pair/{i}', qos: 1, clientIdPrefix: 'pair-sub' }],
      publishers: [{ count: 50, topic: 'bench/pair/{i}', qos: 1, payloadBytes: PAYLOAD, window: 100, clientIdPrefix: 'pair-pub' }],
    }),
    values: (r, s) => ({ 'qos1-pairs': perSecond(r.received, s) }),
  }),
  trafficScenario({
    name: 'fanout',
    description: '1 publisher floods QoS 0, 64 B payloads, to 100 subscribers of bench/fanout; deliveries/s summed over subscribers',
    metrics: [{ name: 'fanout', unit: 'deliveries/s', better: 'higher' }],
    shape: () => ({
      subscribers: [{ count: 100, topic: 'bench/fanout', qos: 0, clientIdPrefix: 'fanout-sub' }],
      publishers: [{ count: 1, topic: 'bench/fanout', qos: 0, payloadBytes: PAYLOAD, clientIdPrefix: 'fanout-pub' }],
    }),
    values: (r, s) => ({ fanout: perSecond(r.received, s) }),
  }),
  trafficScenario({
    name: 'latency',
    description: '1 publisher at a steady 1,000 msg/s QoS 1 to 1 QoS 1 subscriber in the same process (one clock), send time in the payload; end-to-end p50/p99/max over 10 s (--quick 3 s) after 1 s warm-up',
    metrics: [
      { name: 'latency-p50', unit: 'ms', better: 'lower' },
      { name: 'latency-p99', unit: 'ms', better: 'lower' },
      { name: 'latency-max', unit: 'ms', better: 'lower' },
    ],
    shape: (p) => ({
      subscribers: [{ count: 1, topic: 'bench/latency', qos: 1, clientIdPrefix: 'lat-sub' }],
      publishers: [{ count: 1, topic: 'bench/latency', qos: 1, payloadBytes: PAYLOAD, rate: 1000, window: 1000, clientIdPrefix: 'lat-pub' }],
      latency: true,
      drainMs: 3000,
      warmupMs: p.quick ? 500 : 1000,
      measureMs: p.quick ? 3000 : 10_000,
    }),
    values: (r) => ({
      'latency-p50': r.latency?.p50 ?? NaN,
      'latency-p99': r.latency?.p99 ?? NaN,
      'latency-max': r.latency?.max ?? NaN,
    }),
  }),
  {
    name: 'connections',
    description:
      'open N idle clients (10,000; --quick 2,000; keepalive 300 s, clean session) with at most 500 CONNECTs awaiting CONNACK; connects/s, and broker RSS (VmRSS) and heap (heapUsed after GC) growth per connection once all are up',
    metrics: [
      { name: 'connections-rate', unit: 'conn/s', better: 'higher' },
      { name: 'connections-rss-per-conn', unit: 'KB', better: 'lower' },
      { name: 'connections-heap-per-conn', unit: 'KB', better: 'lower' },
    ],
    async run(broker, p) {
      const notes: string[] = [];
      await sleep(300);
      const heapBefore = await broker.heapUsed();
      const rssBefore = broker.rssKB();
      let rssAfter = NaN;
      let heapAfter: number | undefined;
      // loopback connects cost the connecting side as much as the broker: --workers spreads them
      const workers = Math.max(1, p.workers ?? 1);
      const specs: ConnectionsSpec[] = Array.from({ length: workers }, (_, w) => ({
        kind: 'connections',
        host: broker.host,
        port: broker.port,
        count: Math.floor(p.connections / workers) + (w < p.connections % workers ? 1 : 0),
        concurrency: Math.ceil(500 / workers),
        keepalive: 300,
        clientIdPrefix: `idle-${w}-`,
        connectTimeoutMs: 120_000,
        holdMs: 60_000,
        waitForGo: true,
      }));
      const overflowsBefore = listenOverflows();
      const { results, cpu } = await runLoadgen<ConnectionsResult>(specs, broker, p.nofile, async () => {
        await sleep(500);
        heapAfter = await broker.heapUsed();
        rssAfter = broker.rssKB();
      });
      const result = {
        connected: results.reduce((s, r) => s + r.connected, 0),
        failed: results.reduce((s, r) => s + r.failed, 0),
        elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
        errors: results.flatMap((r) => r.errors),
      };
      if (result.failed > 0) notes.push(`${result.failed} of ${p.connections} connections failed`);
      // system-wide counter, but nothing else here should be opening hundreds of connections
      const overflows = listenOverflows() - overflowsBefore;
      if (overflows > 0) notes.push(`${overflows} SYNs dropped on a full accept queue (listen backlog); each costs its client a 1 s SYN retransmit`);
      notes.push(...result.errors.map((e) => `generator: ${e}`));
      const n = result.connected;
      return {
        values: {
          'connections-rate': n / (result.elapsedMs / 1000),
          'connections-rss-per-conn': n > 0 ? (rssAfter - rssBefore) / n : NaN,
          'connections-heap-per-conn': n > 0 && heapBefore !== undefined && heapAfter !== undefined ? (heapAfter - heapBefore) / 1024 / n : NaN,
        },
        cpu,
        notes,
      };
    },
  },
];
