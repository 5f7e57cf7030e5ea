// Runs server/main.ts as a child process on free loopback ports, as `npm start` would.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './tern.ts';

const root = path.resolve(import.meta.dirname, '../..');
// --import resolves against the child's cwd (a temp dir): hand it tsx's absolute URL.
const tsxLoader = import.meta.resolve('tsx');

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface PortsEnv extends Record<string, string> {
  EMQX_NODE__DATA_DIR: string;
  tcp: string;
  http: string;
}

/** EMQX_* overrides putting every listener on a free loopback port, data in `dataDir`. */
export async function portsEnv(dataDir = tempDir()): Promise<PortsEnv> {
  const [tcp, internal, ws, http] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  return {
    EMQX_LISTENER__TCP__EXTERNAL: `127.0.0.1:${tcp}`,
    EMQX_LISTENER__TCP__INTERNAL: `127.0.0.1:${internal}`,
    EMQX_LISTENER__WS__EXTERNAL: `127.0.0.1:${ws}`,
    EMQX_DASHBOARD__LISTENER__HTTP: `127.0.0.1:${http}`,
    EMQX_NODE__DATA_DIR: dataDir,
    tcp: String(tcp),
    http: String(http),
  };
}

/**
 * EMQX_* overrides putting every listener on port 0 (the kernel picks), data in `dataDir`: a
 * child started with these learns its ports only when it is ready (TernProcess.ready). No other
 * process can take a port between picking and binding it, as can happen with portsEnv.
 */
export function anyPortsEnv(dataDir = tempDir()): Record<string, string> {
  return {
    EMQX_LISTENER__TCP__EXTERNAL: '127.0.0.1:0',
    EMQX_LISTENER__TCP__INTERNAL: '127.0.0.1:0',
    EMQX_LISTENER__WS__EXTERNAL: '127.0.0.1:0',
    EMQX_DASHBOARD__LISTENER__HTTP: '127.0.0.1:0',
    EMQX_NODE__DATA_DIR: dataDir,
  };
}

/** The ports a ready child listens on, read from its "Tern is ready" line. */
export interface ReadyPorts {
  /** tcp:external */
  tcp: number;
  /** the dashboard and API */
  http: number;
}

export interface TernProcess {
  child: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
  /** resolves when the child logs "Tern is ready" (every listener and the API are up and its
   *  signal handlers are in place, so a SIGTERM now is a clean stop; at log level info or lower,
   *  JSON on the pipe), with the ports that line names; rejects if it exits first */
  ready: Promise<ReadyPorts>;
  /** resolves with the first JSON log line `match` accepts, checked as output arrives */
  logLine<T = Record<string, unknown>>(match: (line: T) => boolean, what: string, timeoutMs?: number): Promise<T>;
}

const STARTED = '"msg":"Tern is ready"';

function readyPorts(line: string): ReadyPorts {
  const info = JSON.parse(line) as { listeners: { id: string; url?: string }[]; dashboard: string };
  const tcp = info.listeners.find((l) => l.id === 'tcp:external')?.url;
  return { tcp: tcp ? Number(new URL(tcp).port) : NaN, http: Number(new URL(info.dashboard).port) };
}

export function runTern(env: Record<string, string>, args: string[] = [], cwd = tempDir()): TernProcess {
  let out = '';
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(root, 'server/main.ts'), ...args], {
    cwd,
    env: { ...process.env, EMQX_LOG__LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let started: (ports: ReadyPorts) => void = () => {};
  const ready = new Promise<ReadyPorts>((resolve) => (started = resolve));
  child.stdout!.on('data', (d) => {
    out += d;
    // the whole line: up to the newline that ends it
    const at = out.indexOf(STARTED);
    const end = at < 0 ? -1 : out.indexOf('\n', at);
    if (end >= 0) started(readyPorts(out.slice(out.lastIndexOf('\n', at) + 1, end)));
  });
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const readyOrExit = Promise.race([
    ready,
    exit.then((code) => {
      throw new Error(`Tern exited (${code}) before it started:\n${out}`);
    }),
  ]);
  readyOrExit.catch(() => {}); // tests of failed start-ups never wait for it
  function logLine<T>(match: (line: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const find = (): boolean => {
        for (const l of out.split('\n')) {
          if (!l.startsWith('{')) continue;
          let line: T;
          try {
            line = JSON.parse(l) as T;
          } catch {
            continue; // a line still being written
          }
          if (!match(line)) continue;
          child.stdout!.off('data', find);
          clearTimeout(timer);
          resolve(line);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        child.stdout!.off('data', find);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      if (!find()) child.stdout!.on('data', find);
    });
  }
  return { child, output: () => out, exit, ready: readyOrExit, logLine };
}

/**
 * A child-process Tern on `dataDir` (as `npm start` runs it), on ports the kernel picks, once it
 * is ready: the crash tests kill it and start another on the same data dir.
 */
export async function startChild(dataDir: string) {
  const p = runTern(anyPortsEnv(dataDir), [], dataDir); // at info level: ready waits for the 'Tern is ready' line
  const ports = await p.ready;
  return { child: p.child, ports, port: ports.tcp, url: `mqtt://127.0.0.1:${ports.tcp}`, exited: p.exit };
}

/**
 * Streams QoS 1 publishes of "0", "1", ... to `topic` with at most `window` unacknowledged, and
 * SIGKILLs `child` as soon as `killAfter` are acknowledged (at most `total` are sent); resolves
 * with the acknowledged ones, once the child is killed.
 */
export function publishUntilKilled(
  pub: { publish(topic: string, payload: string, opts: { qos: 1 }, cb: (err?: Error) => void): unknown },
  child: ChildProcess,
  topic: string,
  opts: { killAfter: number; window?: number; total?: number },
): Promise<Set<number>> {
  const acked = new Set<number>();
  const window = opts.window ?? 50;
  const total = opts.total ?? Infinity;
  return new Promise((resolve) => {
    let next = 0;
    let outstanding = 0;
    let killed = false;
    const pump = () => {
      while (!killed && outstanding < window && next < total) {
        const i = next++;
        outstanding++;
        pub.publish(topic, String(i), { qos: 1 }, (err) => {
          outstanding--;
          if (!err) acked.add(i);
          if (!killed && acked.size >= opts.killAfter) {
            killed = true;
            child.kill('SIGKILL');
            resolve(acked);
          } else pump();
        });
      }
    };
    pump();
  });
}
