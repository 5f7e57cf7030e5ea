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
}

export function runTern(env: Record<string, string>, args: string[] = [], cwd = tempDir()): TernProcess {
  let out = '';
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(root, 'server/main.ts'), ...args], {
    cwd,
    env: { ...process.env, EMQX_LOG__LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

/** Resolves once GET /api/v5/status answers 200. */
export async function waitForStatus(httpPort: string | number, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fetch(`http://127.0.0.1:${httpPort}/api/v5/status`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Tern did not answer on port ${httpPort} within ${ms} ms`);
}
