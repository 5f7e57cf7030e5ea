// The brokers under test: how to start and stop each in its own process on free loopback ports,
// and the probes the harness reads from outside (CPU time and RSS from /proc, heap over IPC).
//
// A broker variant is a name plus a start function; the factories below cover the three kinds
// (Tern with env overrides, plain aedes, Mosquitto with extra config lines). To add a variant,
// append e.g. `ternVariant('tern-memory', { EMQX_PERSISTENCE: 'memory' }, '...')` to BROKERS and
// select it with `--brokers tern,tern-memory`.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, chmodSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HOST = '127.0.0.1';
export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(benchDir, '../..');
/** `--import` target for TypeScript children; absolute, since Tern runs with cwd in a temp dir */
export const tsxLoader = import.meta.resolve('tsx');
const probeUrl = new URL('./memory-probe.ts', import.meta.url).href;

export interface StartOptions {
  /** open-files limit the broker needs (raised with `ulimit -n` in the spawning shell if needed) */
  nofile: number;
  /** Node brokers only: write a V8 CPU profile (`node --cpu-prof`) into this directory */
  cpuProfDir?: string;
}

export interface RunningBroker {
  name: string;
  pid: number;
  host: string;
  /** the MQTT TCP listener the load goes to */
  port: number;
  /** HTTP management API, when the broker has one */
  httpPort?: number;
  /** Tern: the emqx.conf it reads (its cwd's, empty: the defaults plus the env overrides), for reload scenarios */
  configFile?: string;
  logFile: string;
  /** user+system CPU time the broker process has used so far, ms */
  cpuMs(): number;
  /** VmRSS, KB */
  rssKB(): number;
  /** heapUsed in bytes after a forced GC; undefined for non-Node brokers */
  heapUsed(): Promise<number | undefined>;
  /** after a forced GC: heapUsed and what V8's young generation holds (bytes); undefined for non-Node brokers */
  memory(): Promise<NodeMemory | undefined>;
  /**
   * A request to the broker over its IPC channel (Node brokers: memory-probe.ts, or a bench entry
   * such as tern-bus-counter.ts): its reply, or undefined when it has no channel or no answer
   */
  ask<R extends object>(type: string, body?: object): Promise<R | undefined>;
  /** undefined while running, else why it ended */
  exited(): string | undefined;
  stop(): Promise<void>;
}

export interface NodeMemory {
  heapUsed: number;
  youngBytes: number;
}

export interface BrokerVariant {
  name: string;
  description: string;
  /** Tern's REST management API on `RunningBroker.httpPort` (scenarios that need it skip the others) */
  api?: boolean;
  /** a reason to skip this broker on this machine, or undefined when it can run */
  unavailable(): string | undefined;
  start(opts: StartOptions): Promise<RunningBroker>;
}

// ---- helpers -------------------------------------------------------------------------------------

/** `--cpu-prof` flags for a Node broker: one .cpuprofile per broker process, under DIR/<variant> */
function profArgs(opts: StartOptions, variant: string): string[] {
  return opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', path.join(opts.cpuProfDir, variant)] : [];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** soft and hard RLIMIT_NOFILE of this process */
export function nofileLimit(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const parts = line?.trim().split(/\s+/) ?? [];
  const num = (s: string | undefined): number => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: num(parts[3]), hard: num(parts[4]) };
}

/**
 * Command line that runs `cmd args` with at least `nofile` open files: unchanged when the current
 * soft limit suffices, else through `bash -c 'ulimit -n N; exec ...'` (exec keeps the pid).
 */
export function withNofile(cmd: string, args: string[], nofile: number): [string, string[]] {
  const { soft, hard } = nofileLimit();
  if (soft >= nofile) return [cmd, args];
  const n = Math.min(nofile, hard);
  return ['bash', ['-c', `ulimit -n ${n} && exec "$0" "$@"`, cmd, ...args]];
}

/** environment for children: ours minus anything that would change the broker's configuration */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('EMQX_') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime+stime of a process in ms, from /proc/<pid>/stat */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after "(comm) ": state is field 3, utime field 14, stime field 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** utime+stime of the broker's main thread (its event loop: tid = pid) in ms, from /proc */
export function mainThreadCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** CPU time all processors spent busy (not idle, not iowait) since boot, ms, from /proc/stat */
export function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return ((total - idle) * 1000) / CLK_TCK;
}

/** TcpExt ListenOverflows from /proc/net/netstat: SYNs dropped because an accept queue was full */
export function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = lines[i]?.split(/\s+/) ?? [];
  const values = lines[i + 1]?.split(/\s+/) ?? [];
  const k = names.indexOf('ListenOverflows');
  return k > 0 ? Number(values[k]) : NaN;
}

export function procRssKB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** resolves once host:port accepts a TCP connection; rejects if the child dies or time runs out */
async function waitForPort(port: number, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening; log:\n${tail(logFile)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: HOST, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`port ${port} not accepting after ${timeoutMs} ms; log:\n${tail(logFile)}`);
}

interface SpawnedBroker {
  name: string;
  cmd: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  port: number;
  httpPort?: number;
  /** Node brokers get an IPC channel for heap probes */
  ipc: boolean;
  tmpDir: string;
  nofile: number;
  startTimeoutMs: number;
}

/** brokers running now, with their temp dirs: killed if the harness is interrupted, so none outlives it */
const live = new Map<ChildProcess, string>();
let interruptible = false;

function stopAllOnInterrupt(): void {
  if (interruptible) return;
  interruptible = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      for (const [child, tmpDir] of live) {
        child.kill('SIGKILL');
        rmSync(tmpDir, { recursive: true, force: true });
      }
      process.exit(code);
    });
  }
}

async function launch(b: SpawnedBroker): Promise<RunningBroker> {
  stopAllOnInterrupt();
  const logFile = path.join(b.tmpDir, 'broker.log');
  const fd = openSync(logFile, 'a');
  const [cmd, args] = withNofile(b.cmd, b.args, b.nofile);
  const child = spawn(cmd, args, {
    cwd: b.cwd,
    env: b.env,
    stdio: b.ipc ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd],
  });
  closeSync(fd);
  let exitInfo: string | undefined;
  let stopping = false;
  const exitedP = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = `exited with ${code ?? signal}`;
      if (!stopping) exitInfo += `; log:\n${tail(logFile)}`;
      resolve();
    });
  });
  child.on('error', (err) => (exitInfo = `spawn failed: ${err.message}`));
  if (child.pid === undefined) throw new Error(`${b.name}: could not spawn ${cmd}`);
  const pid = child.pid;
  live.set(child, b.tmpDir);
  child.once('exit', () => live.delete(child));

  const stop = async (): Promise<void> => {
    stopping = true;
    if (exitInfo === undefined) {
      child.kill('SIGTERM');
      const killed = await Promise.race([exitedP.then(() => true), sleep(5000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await exitedP;
      }
    }
    rmSync(b.tmpDir, { recursive: true, force: true });
  };

  try {
    await waitForPort(b.port, child, logFile, b.startTimeoutMs);
  } catch (err) {
    await stop();
    throw new Error(`${b.name}: ${(err as Error).message}`);
  }

  let reqId = 0;
  /** one request over the IPC channel: the reply of the same type and id, or undefined (no channel, or none within 15 s) */
  const ask = <R extends object>(type: string, body: object = {}): Promise<R | undefined> => {
    if (!b.ipc || !child.connected) return Promise.resolve(undefined);
    const id = ++reqId;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        child.off('message', onMsg);
        resolve(undefined);
      }, 15_000);
      const onMsg = (m: unknown): void => {
        const r = m as ({ type?: string; id?: number } & R) | null;
        if (r?.type !== type || r.id !== id) return;
        clearTimeout(t);
        child.off('message', onMsg);
        resolve(r);
      };
      child.on('message', onMsg);
      child.send({ ...body, type, id });
    });
  };
  const memory = (): Promise<NodeMemory | undefined> =>
    ask<{ heapUsed?: number; youngBytes?: number }>('memory', { gc: true }).then((r) =>
      r?.heapUsed === undefined ? undefined : { heapUsed: r.heapUsed, youngBytes: r.youngBytes ?? 0 },
    );
  return {
    name: b.name,
    pid,
    host: HOST,
    port: b.port,
    httpPort: b.httpPort,
    logFile,
    cpuMs: () => procCpuMs(pid),
    rssKB: () => procRssKB(pid),
    heapUsed: () => memory().then((m) => m?.heapUsed),
    memory,
    ask,
    exited: () => exitInfo,
    stop,
  };
}

// ---- Tern ----------------------------------------------------------------------------------------

export const ternMain = path.join(repoRoot, 'server/main.ts');

/**
 * Tern with its default configuration (cwd is an empty temp dir, so no emqx.conf is found), every
 * listener on a free loopback port, a temp data dir, plus `env` (e.g. EMQX_PERSISTENCE=memory).
 */
export function ternVariant(
  name: string,
  env: Record<string, string> = {},
  description = 'Tern, default configuration (SQLite persistence)',
  /** the entry script: server/main.ts, or a bench entry that adds something to the running Tern */
  entry = ternMain,
): BrokerVariant {
  return {
    name,
    description,
    api: true,
    unavailable: () => (existsSync(entry) ? undefined : `${path.relative(repoRoot, entry)} does not exist yet`),
    async start(opts) {
      const tmpDir = mkdtempSync(path.join(os.tmpdir(), `bench-${name}-`));
      const [tcp, internal, ws, http] = [await freePort(), await freePort(), await freePort(), await freePort()];
      // found as ./emqx.conf; the env overrides below win over it, so it changes nothing until a
      // reload scenario writes to it
      const configFile = path.join(tmpDir, 'emqx.conf');
      writeFileSync(configFile, '## written by the reload scenarios\n');
      const running = await launch({
        name,
        cmd: process.execPath,
        args: [...profArgs(opts, name), '--expose-gc', '--import', tsxLoader, '--import', probeUrl, entry],
        cwd: tmpDir,
        env: cleanEnv({
          EMQX_LISTENER__TCP__EXTERNAL: `${HOST}:${tcp}`,
          EMQX_LISTENER__TCP__INTERNAL: `${HOST}:${internal}`,
          EMQX_LISTENER__WS__EXTERNAL: `${HOST}:${ws}`,
          EMQX_DASHBOARD__LISTENER__HTTP: `${HOST}:${http}`,
          EMQX_NODE__DATA_DIR: path.join(tmpDir, 'data'),
          EMQX_LOG__LEVEL: 'warn',
          // tsx looks for tsconfig.json from the cwd, which is the temp dir
          TSX_TSCONFIG_PATH: path.join(repoRoot, 'tsconfig.json'),
          ...env,
        }),
        port: tcp,
        httpPort: http,
        ipc: true,
        tmpDir,
        nofile: opts.nofile,
        startTimeoutMs: 60_000,
      });
      return { ...running, configFile };
    },
  };
}

// ---- plain aedes ---------------------------------------------------------------------------------

export function aedesVariant(name = 'aedes', description = 'aedes 1.2, in-memory persistence, defaults'): BrokerVariant {
  return {
    name,
    description,
    unavailable: () => undefined,
    async start(opts) {
      const tmpDir = mkdtempSync(path.join(os.tmpdir(), `bench-${name}-`));
      const port = await freePort();
      return launch({
        name,
        cmd: process.execPath,
        args: [...profArgs(opts, name), '--expose-gc', '--import', tsxLoader, '--import', probeUrl, path.join(benchDir, 'aedes-server.ts'), String(port)],
        cwd: repoRoot,
        env: cleanEnv(),
        port,
        ipc: true,
        tmpDir,
        nofile: opts.nofile,
        startTimeoutMs: 30_000,
      });
    },
  };
}

// ---- Mosquitto -----------------------------------------------------------------------------------

export function findMosquitto(): string | undefined {
  const r = spawnSync('bash', ['-c', 'command -v mosquitto'], { encoding: 'utf8' });
  const found = r.stdout.trim();
  if (r.status === 0 && found) return found;
  return ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
}

export function mosquittoVersion(bin = findMosquitto()): string | undefined {
  if (!bin) return undefined;
  const r = spawnSync(bin, ['-h'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.split('\n')[0]?.trim();
}

/**
 * Our own Mosquitto on a free port (the system one on 1883 is never used), with anonymous access,
 * no persistence and queues deep enough that the scenarios measure speed rather than drops.
 */
export function mosquittoVariant(name = 'mosquitto', extraConf: string[] = [], description = 'Mosquitto, defaults + anonymous, no persistence'): BrokerVariant {
  return {
    name,
    description,
    unavailable: () => (findMosquitto() ? undefined : 'no mosquitto binary found (command -v mosquitto, /usr/sbin/mosquitto)'),
    async start(opts) {
      const bin = findMosquitto();
      if (!bin) throw new Error('mosquitto not found');
      const tmpDir = mkdtempSync(path.join(os.tmpdir(), `bench-${name}-`));
      // when started as root, mosquitto drops to the `mosquitto` user, which must reach the log
      chmodSync(tmpDir, 0o777);
      const port = await freePort();
      const conf = path.join(tmpDir, 'mosquitto.conf');
      writeFileSync(
        conf,
        [
          `listener ${port} ${HOST}`,
          'allow_anonymous true',
          'persistence false',
          'max_queued_messages 1000000',
          `log_dest file ${path.join(tmpDir, 'mosquitto-own.log')}`,
          'log_type error',
          'log_type warning',
          ...extraConf,
          '',
        ].join('\n'),
      );
      return launch({
        name,
        cmd: bin,
        args: ['-c', conf],
        cwd: tmpDir,
        env: cleanEnv(),
        port,
        ipc: false,
        tmpDir,
        nofile: opts.nofile,
        startTimeoutMs: 15_000,
      });
    },
  };
}

// ---- registry ------------------------------------------------------------------------------------

export const BROKERS: BrokerVariant[] = [
  ternVariant('tern'),
  aedesVariant('aedes'),
  mosquittoVariant('mosquitto'),
  // variants for later issues, selectable with --brokers:
  ternVariant('tern-memory', { EMQX_PERSISTENCE: 'memory' }, 'Tern, EMQX_PERSISTENCE=memory'),
  // sys-overhead: the $SYS tree every second vs never, readable by the generator's clients
  ternVariant(
    'tern-sys-1s',
    { EMQX_BROKER__SYS_INTERVAL: '1s', EMQX_BROKER__SYS_HEARTBEAT: '1s', EMQX_BROKER__SYS_TOPICS__ALLOW: 'all' },
    'Tern, $SYS stats/metrics and uptime every second, $SYS open to all',
  ),
  ternVariant(
    'tern-sys-off',
    { EMQX_BROKER__SYS_INTERVAL: '0', EMQX_BROKER__SYS_HEARTBEAT: '0', EMQX_BROKER__SYS_TOPICS__ALLOW: 'all' },
    'Tern, no periodic $SYS topics, $SYS open to all',
  ),
  // the A/A check: the same Tern again, so a ratio between two identical processes shows the noise
  ternVariant('tern-again', {}, 'Tern again, identical to tern (an A/A check of the noise between two processes)'),
  // sys-tick-cost: $SYS open to all (a restart key); the timers are left to emqx.conf, which it reloads
  ternVariant('tern-sys-reload', { EMQX_BROKER__SYS_TOPICS__ALLOW: 'all' }, 'Tern, $SYS open to all, $SYS timers from emqx.conf'),
  ternVariant(
    'tern-bus-counter',
    {},
    'Tern with a message.publish + message.delivered listener on its event bus that only counts',
    path.join(benchDir, 'tern-bus-counter.ts'),
  ),
  // issue 12: the same Tern with a 50-rule acl.conf, and with flapping detection on (the
  // connections-banned scenario adds the bans through the API)
  ternVariant('tern-acl', { EMQX_ACL_FILE: path.join(benchDir, 'acl-50.conf') }, 'Tern with test/bench/acl-50.conf (50 rules; the traffic matches only the last, {allow, all})'),
  ternVariant('tern-banned', { EMQX_ZONE__EXTERNAL__ENABLE_FLAPPING_DETECT: 'on' }, 'Tern with flapping detection on and 500 bans (added by the scenario)'),
];

export const DEFAULT_BROKERS = ['tern', 'aedes', 'mosquitto'];
