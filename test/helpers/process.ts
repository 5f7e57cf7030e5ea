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

export interface TernProcess {
  child: ChildProcess;
  output(): string;
  exit: Promise<number | null>;
  /** resolves when the child logs "Tern started" (every listener and the API are up, at log level
   *  info or lower); rejects if it exits first */
  ready: Promise<void>;
}

const STARTED = '"msg":"Tern started"';

export function runTern(env: Record<string, string>, args: string[] = [], cwd = tempDir()): TernProcess {
  let out = '';
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(root, 'server/main.ts'), ...args], {
    cwd,
    env: { ...process.env, EMQX_LOG__LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let started: () => void = () => {};
  const ready = new Promise<void>((resolve) => (started = resolve));
  child.stdout!.on('data', (d) => {
    out += d;
    if (out.includes(STARTED)) started();
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
  return { child, output: () => out, exit, ready: readyOrExit };
}
