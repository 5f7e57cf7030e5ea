// Runs `tern ctl ...` as a real child process, as a person or a script would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startTestTern } from './tern.ts';
import type { Tern } from '../../server/tern.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tsxLoader = import.meta.resolve('tsx');

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CtlOptions {
  /** added to an environment stripped of TERN_* (the developer's own must not leak in) */
  env?: Record<string, string>;
  /** written to standard input, which is then closed */
  input?: string;
  /** run bin/tern.js (the package's bin) instead of server/cli/main.ts */
  bin?: boolean;
}

export function ctl(args: string[], opts: CtlOptions = {}): Promise<CtlResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TERN_') && k !== 'NO_COLOR') env[k] = v;
  const entry = opts.bin ? [path.join(root, 'bin/tern.js')] : ['--import', tsxLoader, path.join(root, 'server/cli/main.ts')];
  const child = spawn(process.execPath, [...entry, 'ctl', ...args], { cwd: root, env: { ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Rows of an aligned table, keyed by header. Cells are split on runs of 2+ spaces (the tables'
 *  column gap; no cell in these tests holds one, and an empty cell prints as "-"). */
export function parseTable(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const split = (l: string) => l.trim().split(/\s{2,}/);
  const header = split(lines[0] ?? '');
  return lines.slice(1).map((line) => {
    const cells = split(line);
    if (cells.length !== header.length) throw new Error(`row has ${cells.length} cells, header ${header.length}: ${JSON.stringify(line)}`);
    return Object.fromEntries(header.map((h, i) => [h, cells[i]!]));
  });
}

/** "key   value" lines as an object. */
export function parseKeyValue(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s{2,}(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export interface CtlNode {
  tern: Tern;
  /** the node's API address, http://127.0.0.1:<port> */
  url: string;
  /** --url and the default administrator's credentials, as a person would type them */
  admin: string[];
  /** runs `tern ctl <admin flags> ...args`, which must succeed without a word on stderr; answers stdout */
  ok(args: string[], opts?: CtlOptions): Promise<string>;
  /** the same with --json, parsed */
  json<T = unknown>(args: string[], opts?: CtlOptions): Promise<T>;
  close(): Promise<void>;
}

/** A live in-process node for `tern ctl` to talk to. */
export async function startCtlNode(): Promise<CtlNode> {
  const tern = await startTestTern();
  const url = `http://127.0.0.1:${tern.ports.http}`;
  const admin = ['--url', url, '--username', 'admin', '--password', 'public'];
  const ok = async (args: string[], opts: CtlOptions = {}) => {
    const r = await ctl([...admin, ...args], opts);
    assert.equal(r.code, 0, `tern ctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr, '', `tern ctl ${args.join(' ')} wrote to stderr`);
    return r.stdout;
  };
  return {
    tern,
    url,
    admin,
    ok,
    json: async <T>(args: string[], opts: CtlOptions = {}) => JSON.parse(await ok([...args, '--json'], opts)) as T,
    close: () => tern.close(),
  };
}
