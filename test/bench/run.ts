// `npm run bench [-- options]`: starts each broker in a fresh process per scenario and run, drives
// it with the load generator (test/bench/loadgen.ts, a separate process), and prints one table of
// medians (min–max) with ratios of the first broker to the others.
//
//   --quick              1 run, short windows, 2,000 connections (whole run < 2 min)
//   --runs N             repetitions (default 3; brokers rotate order every run)
//   --only a,b           scenarios (names or metric names, e.g. latency or latency-p99)
//   --brokers a,b        broker variants (default tern,aedes,mosquitto, plus a scenario's extraBrokers
//                        such as tern-memory for qos1-persistent; see brokers.ts)
//   --connections N      clients in `connections` (default 10000, --quick 2000)
//   --workers N          generator processes per scenario except latency (default 1)
//   --json FILE          also write {"scenarios": {...}} to FILE
//   --cpu-prof DIR       Node brokers run with `node --cpu-prof`: profiles land in DIR/<broker>/
//
// Progress goes to stderr; the table and the CPU note go to stdout.

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BROKERS, DEFAULT_BROKERS, mosquittoVersion, nofileLimit, type BrokerVariant, type RunningBroker } from './brokers.ts';
import { MARGINAL_SHARE, SCENARIOS, type CpuEvidence, type Metric, type Scenario, type ScenarioParams } from './scenarios.ts';
import { median, summarize, type Summary } from './stats.ts';

interface Options {
  quick: boolean;
  runs: number;
  only: string[] | undefined;
  brokers: string[];
  /** --brokers was given: run exactly those (no per-scenario extra brokers) */
  brokersGiven: boolean;
  connections: number | undefined;
  workers: number | undefined;
  json: string | undefined;
  cpuProf: string | undefined;
}

function usage(msg?: string): never {
  if (msg) process.stderr.write(`bench: ${msg}\n`);
  process.stderr.write(
    'usage: npm run bench -- [--quick] [--runs N] [--only a,b] [--brokers a,b] [--connections N] [--workers N] [--json FILE] [--cpu-prof DIR]\n' +
      `  scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}\n` +
      `  brokers:   ${BROKERS.map((b) => b.name).join(', ')}\n`,
  );
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, runs: NaN, only: undefined, brokers: DEFAULT_BROKERS, brokersGiven: false, connections: undefined, workers: undefined, json: undefined, cpuProf: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    const positiveInt = (): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) usage(`${flag} takes a positive integer`);
      return n;
    };
    switch (flag) {
      case '--quick':
        o.quick = true;
        break;
      case '--runs':
        o.runs = positiveInt();
        break;
      case '--only':
        o.only = value().split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case '--brokers':
        o.brokers = value().split(',').map((s) => s.trim()).filter(Boolean);
        o.brokersGiven = true;
        break;
      case '--connections':
        o.connections = positiveInt();
        break;
      case '--workers':
        o.workers = positiveInt();
        break;
      case '--json':
        o.json = value();
        break;
      case '--cpu-prof':
        o.cpuProf = path.resolve(value());
        break;
      case '-h':
      case '--help':
        usage();
      default:
        usage(`unknown option ${a}`);
    }
  }
  if (Number.isNaN(o.runs)) o.runs = o.quick ? 1 : 3;
  return o;
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === '×') return v.toFixed(2);
  if (unit === '%') return v < 1 ? v.toFixed(3) : v.toFixed(2);
  if (unit === 'ms' || unit === 'KB') return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
  return Math.round(v).toLocaleString('en-US');
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));

  const variants: BrokerVariant[] = o.brokers.map((name) => BROKERS.find((b) => b.name === name) ?? usage(`unknown broker ${name}`));
  const scenarios: Scenario[] = o.only
    ? SCENARIOS.filter((s) => o.only!.some((n) => n === s.name || s.metrics.some((m) => m.name === n)))
    : SCENARIOS;
  if (o.only && scenarios.length === 0) usage(`no scenario matches ${o.only.join(',')}`);

  const notes: string[] = [];

  // Each side of `connections` holds one socket per client, in separate processes (N, then
  // N × MARGINAL_SHARE more for the marginal figure).
  let connections = o.connections ?? (o.quick ? 2000 : 10_000);
  const fdFor = (n: number): number => Math.ceil(n * (1 + MARGINAL_SHARE)) + 512;
  const needFd = fdFor(connections);
  const { soft, hard } = nofileLimit();
  if (hard < needFd) {
    const scaled = Math.max(100, Math.floor((hard - 512) / (1 + MARGINAL_SHARE)));
    notes.push(`open-files hard limit is ${hard}: connections scaled down from ${connections} to ${scaled}`);
    connections = scaled;
  } else if (soft < needFd) {
    notes.push(`open-files soft limit ${soft} raised to ${needFd} for the broker and generator processes (ulimit -n)`);
  }
  const nofile = Math.min(hard, Math.max(soft, fdFor(connections)));
  const params: ScenarioParams = { quick: o.quick, nofile, connections, workers: o.workers };

  const unavailable = new Map<string, string | undefined>();
  const available = (v: BrokerVariant): boolean => {
    if (!unavailable.has(v.name)) {
      const why = v.unavailable();
      unavailable.set(v.name, why);
      if (why) notes.push(`${v.name} skipped: ${why}`);
    }
    return unavailable.get(v.name) === undefined;
  };
  const active = variants.filter(available);
  if (active.length === 0) log('bench: no broker can run');

  // each scenario's brokers: the selected ones it can run on, plus its extra brokers (default list only)
  const plan = new Map<Scenario, BrokerVariant[]>();
  const skipped = new Map<string, Map<string, string[]>>(); // reason → scenario → brokers
  for (const s of scenarios) {
    const extra = o.brokersGiven
      ? []
      : (s.extraBrokers ?? [])
          .map((n) => BROKERS.find((b) => b.name === n))
          .filter((b): b is BrokerVariant => b !== undefined && !active.includes(b) && available(b));
    const list = [...active, ...extra].filter((v) => {
      const why = s.skip?.(v);
      if (why) {
        if (!skipped.has(why)) skipped.set(why, new Map());
        const per = skipped.get(why)!;
        per.set(s.name, [...(per.get(s.name) ?? []), v.name]);
      }
      return !why;
    });
    plan.set(s, list);
  }
  // one note per reason and set of brokers
  for (const [why, per] of skipped) {
    const byBrokers = new Map<string, string[]>();
    for (const [s, bs] of per) byBrokers.set(bs.join(', '), [...(byBrokers.get(bs.join(', ')) ?? []), s]);
    for (const [bs, ss] of byBrokers) notes.push(`${ss.join(', ')} not run on ${bs}: ${why}`);
  }
  // table columns: the selected brokers, then extra ones in order of appearance
  const columns: BrokerVariant[] = [...active];
  for (const list of plan.values()) for (const v of list) if (!columns.includes(v)) columns.push(v);

  // perRun[metric][broker][run] = the value of that run (the run index pairs brokers, see
  // "paired" below); cpu[scenario][broker] = one evidence per run
  const perRun = new Map<string, Map<string, Map<number, number>>>();
  const cpu = new Map<string, Map<string, CpuEvidence[]>>();
  const push = <T>(m: Map<string, Map<string, T[]>>, k: string, b: string, v: T): void => {
    if (!m.has(k)) m.set(k, new Map());
    const inner = m.get(k)!;
    if (!inner.has(b)) inner.set(b, []);
    inner.get(b)!.push(v);
  };

  const t0 = performance.now();
  log(
    `bench: ${o.runs} run(s) × ${scenarios.length} scenario(s), ${[...plan.values()].reduce((n, l) => n + l.length, 0)} scenario×broker pairs` +
      `${o.quick ? ' (quick)' : ''}; ${connections} connections; brokers: ${columns.map((b) => b.name).join(', ')}`,
  );
  for (let run = 0; run < o.runs; run++) {
    for (const scenario of scenarios) {
      // rotate the order every run so no broker always goes first (or follows the same one)
      const list = plan.get(scenario)!;
      const order = list.map((_, i) => list[(i + run) % list.length]!);
      for (const variant of order) {
        const label = `run ${run + 1}/${o.runs} ${scenario.name} on ${variant.name}`;
        let broker: RunningBroker | undefined;
        const started = performance.now();
        try {
          broker = await variant.start({ nofile, cpuProfDir: o.cpuProf });
          const m = await scenario.run(broker, params);
          const died = broker.exited();
          if (died) throw new Error(`broker ${died}`);
          for (const metric of scenario.metrics) {
            const v = m.values[metric.name];
            if (v !== undefined && Number.isFinite(v)) {
              if (!perRun.has(metric.name)) perRun.set(metric.name, new Map());
              const byBroker = perRun.get(metric.name)!;
              if (!byBroker.has(variant.name)) byBroker.set(variant.name, new Map());
              byBroker.get(variant.name)!.set(run, v);
            }
          }
          if (m.cpu) push(cpu, scenario.name, variant.name, m.cpu);
          for (const n of m.notes) notes.push(`${label}: ${n}`);
          const shown = scenario.metrics
            .map((mt) => {
              const v = m.values[mt.name] ?? NaN;
              return `${mt.name}=${Number.isFinite(v) ? `${fmt(v, mt.unit)} ${mt.unit}` : 'n/a'}`;
            })
            .join(', ');
          const c = m.cpu
            ? ` [cpu % of a core: broker ${Math.round(m.cpu.brokerPct)}, generator ${Math.round(m.cpu.generatorPct)}, other ${Math.round(m.cpu.otherPct)}]`
            : '';
          log(`${label}: ${shown}${c} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
        } catch (err) {
          let msg = (err as Error).message;
          // a generator that cannot connect usually means the broker went away: say why
          const died = broker?.exited();
          if (died && !msg.includes(died)) msg += ` (broker ${died})`;
          notes.push(`${label}: failed: ${msg.split('\n')[0]}`);
          log(`${label}: FAILED: ${msg}`);
        } finally {
          await broker?.stop();
        }
      }
    }
  }
  const totalS = (performance.now() - t0) / 1000;
  log(`bench: done in ${totalS.toFixed(0)} s`);

  // ---- table ----
  const names = columns.map((b) => b.name);
  const base = names[0];
  const others = names.slice(1);
  const metrics: Metric[] = scenarios.flatMap((s) => s.metrics);
  const summary = (metric: string, broker: string): Summary | undefined => {
    const v = perRun.get(metric)?.get(broker);
    return v && v.size > 0 ? summarize([...v.values()]) : undefined;
  };
  const cell = (s: Summary | undefined, unit: string): string =>
    !s ? 'n/a' : o.runs === 1 || s.min === s.max ? fmt(s.median, unit) : `${fmt(s.median, unit)} (${fmt(s.min, unit)}–${fmt(s.max, unit)})`;

  const header = ['scenario', 'unit', ...names, ...others.map((n) => `${base}/${n}`)];
  const rows: string[][] = metrics.map((m) => {
    const sums = names.map((b) => summary(m.name, b));
    const baseMed = sums[0]?.median;
    const ratios = others.map((_, i) => {
      const other = sums[i + 1]?.median;
      return baseMed !== undefined && other !== undefined && other !== 0 ? `${(baseMed / other).toFixed(2)}×` : 'n/a';
    });
    return [m.name, m.unit, ...sums.map((s) => cell(s, m.unit)), ...ratios];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => pad(c, widths[i]!, i >= 2)).join('  ');
  const out: string[] = [];
  out.push(line(header));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out.push(line(r));
  out.push('');
  out.push(
    `${o.runs === 1 ? '1 run' : `median (min–max) of ${o.runs} runs`}, each broker in a fresh process per scenario and run; ` +
      `ratios are ${base}'s median over the other's (msg/s, conn/s: higher is better; ms, KB: lower is better).`,
  );

  // ---- paired ratios ----
  // The brokers of one run follow each other within seconds, while this kind of machine's speed
  // drifts over minutes: the ratio inside each run, then its median, cancels most of the drift
  // that the ratio of two medians keeps.
  const paired = (metric: string, a: string, b: string): Summary | undefined => {
    const ra = perRun.get(metric)?.get(a);
    const rb = perRun.get(metric)?.get(b);
    if (!ra || !rb) return undefined;
    const r = [...ra].filter(([run]) => rb.has(run) && rb.get(run) !== 0).map(([run, v]) => v / rb.get(run)!);
    return r.length > 0 ? summarize(r) : undefined;
  };
  if (o.runs > 1 && others.length > 0) {
    out.push('');
    out.push(`Paired ratios: ${base}/other within each run, median (min–max) over the runs:`);
    const pRows = metrics.map((m) => [
      m.name,
      ...others.map((n) => {
        const p = paired(m.name, base!, n);
        return p ? `${p.median.toFixed(2)}× (${p.min.toFixed(2)}–${p.max.toFixed(2)})` : 'n/a';
      }),
    ]);
    const pHeader = ['scenario', ...others.map((n) => `${base}/${n}`)];
    const pw = pHeader.map((h, i) => Math.max(h.length, ...pRows.map((r) => r[i]!.length)));
    out.push(pHeader.map((h, i) => pad(h, pw[i]!, i >= 1)).join('  '));
    for (const r of pRows) out.push(r.map((c, i) => pad(c, pw[i]!, i >= 1)).join('  '));
  }

  // ---- CPU evidence: the broker should be the saturated side ----
  // (scenarios with no measure window, such as the API ones, have none)
  if (cpu.size > 0) {
    out.push('');
    out.push(
      `CPU during the measure window, % of one core (median over runs; this machine has ${os.cpus().length} cores = ${os.cpus().length * 100}%): ` +
        'broker / load generator / everything else',
    );
    const cpuRows = scenarios
      .filter((s) => cpu.has(s.name))
      .map((s) => [
        s.name,
        ...names.map((b) => {
          const e = cpu.get(s.name)?.get(b);
          if (!e || e.length === 0) return 'n/a';
          const med = (f: (x: CpuEvidence) => number): number => Math.round(median(e.map(f)));
          return `${med((x) => x.brokerPct)} / ${med((x) => x.generatorPct)} / ${med((x) => x.otherPct)}`;
        }),
      ]);
    const cpuHeader = ['scenario', ...names];
    const cw = cpuHeader.map((h, i) => Math.max(h.length, ...cpuRows.map((r) => r[i]!.length)));
    out.push(cpuHeader.map((h, i) => pad(h, cw[i]!, i >= 1)).join('  '));
    for (const r of cpuRows) out.push(r.map((c, i) => pad(c, cw[i]!, i >= 1)).join('  '));
  }

  // ---- ratios of two brokers and targets from the issues ----
  const med = (metric: string, broker: string): number => summary(metric, broker)?.median ?? NaN;
  const unitOf = (metric: string): string => metrics.find((m) => m.name === metric)?.unit ?? '';
  const ratios = scenarios.flatMap((s) => s.ratios ?? []).filter((r) => names.includes(r.a) && names.includes(r.b));
  const ratioRows = ratios.map((r) => {
    const value = med(r.metric, r.a) / med(r.metric, r.b);
    const met = r.target === undefined || !Number.isFinite(value) ? undefined : value >= r.target;
    return { ...r, value, met };
  });
  if (ratioRows.length > 0) {
    out.push('');
    out.push('Ratios of two brokers (medians):');
    for (const r of ratioRows) {
      const v = Number.isFinite(r.value) ? `${r.value.toFixed(2)}×` : 'n/a';
      const goal = r.target === undefined ? '' : `  (target >= ${r.target}: ${r.met === undefined ? 'n/a' : r.met ? 'met' : 'MISSED'})`;
      out.push(`- ${r.metric}: ${r.a}/${r.b} = ${v}${goal}`);
    }
  }
  const targetRows = metrics
    .filter((m) => m.target !== undefined)
    .flatMap((m) =>
      names
        .filter((b) => summary(m.name, b))
        .map((b) => {
          const value = med(m.name, b);
          const met = m.better === 'higher' ? value >= m.target! : value < m.target!;
          return { metric: m.name, broker: b, value, target: m.target!, op: m.better === 'higher' ? '>=' : '<', met };
        }),
    );
  if (targetRows.length > 0) {
    out.push('');
    out.push('Targets (median of the runs):');
    for (const t of targetRows) {
      out.push(`- ${t.metric} on ${t.broker}: ${fmt(t.value, unitOf(t.metric))} ${unitOf(t.metric)} (target ${t.op} ${t.target}): ${t.met ? 'met' : 'MISSED'}`);
    }
  }

  const otherLoad = [...cpu.values()].flatMap((per) => [...per.values()].flat().map((e) => e.otherPct)).filter(Number.isFinite);
  if (otherLoad.length > 0 && median(otherLoad) > 25) {
    notes.unshift(
      `other work used a median ${Math.round(median(otherLoad))}% of a core during the measure windows ` +
        '(other processes on this machine): the figures are noisy and lower than on an idle machine',
    );
  }
  if (notes.length > 0) {
    out.push('');
    out.push('Notes:');
    for (const n of notes) out.push(`- ${n}`);
  }
  process.stdout.write(out.join('\n') + '\n');

  if (o.json) {
    const json: {
      scenarios: Record<string, Record<string, unknown>>;
      ratios: { metric: string; a: string; b: string; value: number | null; target?: number; met?: boolean }[];
      paired: Record<string, Record<string, Summary>>;
      targets: { metric: string; broker: string; value: number; target: number; op: string; met: boolean }[];
      cpu: Record<string, Record<string, CpuEvidence>>;
      meta: Record<string, unknown>;
    } = { scenarios: {}, ratios: [], paired: {}, targets: [], cpu: {}, meta: {} };
    for (const m of metrics) {
      for (const n of others) {
        const p = paired(m.name, base!, n);
        if (p) (json.paired[m.name] ??= {})[`${base}/${n}`] = p;
      }
    }
    json.ratios = ratioRows.map((r) => ({ metric: r.metric, a: r.a, b: r.b, value: Number.isFinite(r.value) ? r.value : null, target: r.target, met: r.met }));
    json.targets = targetRows;
    for (const m of metrics) {
      const entry: Record<string, unknown> = { unit: m.unit };
      for (const b of names) {
        const s = summary(m.name, b);
        if (s) entry[b] = s;
      }
      json.scenarios[m.name] = entry;
    }
    for (const [s, per] of cpu) {
      json.cpu[s] = {};
      for (const [b, e] of per) {
        json.cpu[s]![b] = {
          brokerPct: median(e.map((x) => x.brokerPct)),
          brokerMs: median(e.map((x) => x.brokerMs)),
          generatorPct: median(e.map((x) => x.generatorPct)),
          otherPct: median(e.map((x) => x.otherPct)),
        };
      }
    }
    json.meta = {
      date: new Date().toISOString(),
      runs: o.runs,
      quick: o.quick,
      connections,
      brokers: Object.fromEntries(columns.map((b) => [b.name, b.description])),
      node: process.version,
      mosquitto: mosquittoVersion(),
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
      durationS: Math.round(totalS),
      notes,
    };
    writeFileSync(o.json, JSON.stringify(json, null, 2) + '\n');
    log(`bench: wrote ${o.json}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
