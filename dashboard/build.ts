// Builds dashboard/dist when it is missing or older than its sources: `npm start` runs this
// first (prestart), and the e2e tests call ensureDashboardBuilt(). `--force` always builds.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, 'dist', 'index.html');

function newestSource(): number {
  let newest = 0;
  const visit = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) visit(path.join(p, e));
    else if (!p.endsWith('.test.ts')) newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of ['src', 'index.html', 'vite.config.ts']) visit(path.join(root, p));
  return newest;
}

export function dashboardIsStale(): boolean {
  if (!fs.existsSync(dist)) return true;
  return fs.statSync(dist).mtimeMs < newestSource();
}

export async function ensureDashboardBuilt(opts: { force?: boolean; quiet?: boolean } = {}): Promise<boolean> {
  if (!opts.force && !dashboardIsStale()) return false;
  const { build } = await import('vite');
  await build({ configFile: path.join(root, 'vite.config.ts'), logLevel: opts.quiet ? 'warn' : 'info' });
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  const built = await ensureDashboardBuilt({ force });
  if (!built) console.log('dashboard/dist is up to date');
}
