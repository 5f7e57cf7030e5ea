// `npm run bench:dashboard [-- --runs N]`: the dashboard's budget (issue 14): initial JS gzipped
// (≤ 250 KB) and first render of Overview in headless Chromium (≤ 1 s). A measurement, not a test.
//
// Builds dashboard/dist fresh, then
//  - sizes: gzip -9 (what the server sends) of the entry script(s) in index.html, and of every
//    script Chromium fetched to render Overview (entry + the lazy Overview chunk with chart.js);
//  - first render: a fresh browser context per run with a valid token in localStorage, from
//    navigation start to the Overview's cards holding the node's numbers and both charts drawn
//    (canvas painted, history loaded). Median and min–max of --runs (default 7).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { chromium } from 'playwright-core';
import { ensureDashboardBuilt } from '../../dashboard/build.ts';
import { startTern } from '../../server/tern.ts';
import { testConfig } from '../helpers/tern.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = path.join(root, 'dashboard', 'dist');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7;
const KB = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const gz = (file: string) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;

await ensureDashboardBuilt({ force: true, quiet: true });
const index = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
const entry = [...index.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="\.\/([^"]+\.js)"/g)].map((m) => m[1]!);
const entryGz = entry.reduce((n, f) => n + gz(path.join(dist, f)), 0);
const css = [...index.matchAll(/href="\.\/([^"]+\.css)"/g)].map((m) => m[1]!);
const cssGz = css.reduce((n, f) => n + gz(path.join(dist, f)), 0);

const tern = await startTern({ config: testConfig(), logger: pino({ level: 'silent' }) });
const base = `http://127.0.0.1:${tern.ports.http}`;
const login = (await (await fetch(`${base}/api/v5/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'public' }) })).json()) as { token: string };
const browser = await chromium.launch({
  executablePath: process.env.TERN_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});
const times: number[] = [];
let overviewJs = 0;
let overviewFiles: string[] = [];
try {
  for (let i = 0; i < RUNS + 1; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((token) => {
      localStorage.setItem('tern.token', token);
      localStorage.setItem('tern.user', 'admin');
    }, login.token);
    const page = await context.newPage();
    await page.goto(`${base}/#/overview`);
    await page.waitForFunction(() => {
      const name = document.querySelector('[data-testid=node-name]')?.textContent;
      const charts = document.querySelectorAll('canvas');
      return !!name && charts.length === 2 && [...charts].every((c) => c.width > 0) && document.querySelector('[data-testid=chart-connections-points]')?.textContent !== undefined;
    });
    const ms = await page.evaluate(() => performance.now());
    const scripts = await page.evaluate(() =>
      performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.js')).map((r) => ({ name: r.name, size: (r as PerformanceResourceTiming).encodedBodySize })),
    );
    overviewJs = scripts.reduce((n, s) => n + s.size, 0);
    overviewFiles = scripts.map((s) => s.name.split('/').pop()!);
    // the first run warms the OS file cache and V8's code cache of the server; not counted
    if (i > 0) times.push(ms);
    await context.close();
  }
} finally {
  await browser.close();
  await tern.close();
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
console.log(`Dashboard budget (issue 14)   load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.availableParallelism()} cores`);
console.log(`  initial JS (entry, gzip -9):        ${KB(entryGz)}  [${entry.join(', ')}]   budget 250 KB`);
console.log(`  initial CSS (gzip -9):              ${KB(cssGz)}`);
console.log(`  JS fetched to render Overview:      ${KB(overviewJs)} gzipped on the wire  [${overviewFiles.join(', ')}]`);
console.log(`  first render of Overview:           median ${median.toFixed(0)} ms (min ${times[0]!.toFixed(0)}, max ${times[times.length - 1]!.toFixed(0)}, ${times.length} runs)   budget 1000 ms`);
