// Runs `tern ctl ...` as a real child process, as a person or a script would.
import { spawn } from 'node:child_process';
import path from 'node:path';

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
