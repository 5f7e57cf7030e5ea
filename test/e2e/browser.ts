// E2E harness: Debian's chromium driven by playwright-core (never a downloaded browser), a whole
// Tern in-process on port 0 serving the built dashboard, and screenshots under screenshots/.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ensureDashboardBuilt } from '../../dashboard/build.ts';
import { startTern, type Tern } from '../../server/tern.ts';
import { baseConfLines, tempDir, testConfig } from '../helpers/tern.ts';
import { loadConfig } from '../../server/config/index.ts';
import type { Config } from '../../server/config/types.ts';
import { pino } from 'pino';

export const CHROMIUM = process.env.TERN_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
export const SCREENSHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');

export const WIDE = { width: 1280, height: 800 };
export const NARROW = { width: 390, height: 844 };

export interface E2E {
  tern: Tern;
  browser: Browser;
  base: string;
  /** the emqx.conf it started from (with confLines) */
  confFile?: string;
  /** a fresh browser context (own storage) with one page */
  page(viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

export interface E2EOptions {
  /** changes to the test config (a config built in code: there is no file to reload) */
  config?: (c: Config) => void;
  /**
   * start from an emqx.conf instead: these lines after loopback listeners on port 0 and a temp
   * data dir; `confFile` is its path (edit it, then reload from Settings)
   */
  confLines?: string[];
}

export async function startE2E(opts: E2EOptions = {}): Promise<E2E> {
  await ensureDashboardBuilt({ quiet: true });
  const logger = pino({ level: process.env.TERN_TEST_LOG ?? 'silent' });
  const api = { monitorHistoryMs: 500, monitorStreamMs: 250, monitorSampleMs: 250 };
  let confFile: string | undefined;
  let tern: Tern;
  if (opts.confLines) {
    const dir = tempDir('tern-e2e-');
    confFile = path.join(dir, 'emqx.conf');
    fs.writeFileSync(confFile, [...baseConfLines(dir), ...opts.confLines].join('\n') + '\n');
    const loaded = loadConfig({ file: confFile, env: {} });
    tern = await startTern({ config: loaded.config, file: confFile, env: {}, pathOrigins: loaded.pathOrigins, logger, api });
  } else {
    tern = await startTern({ config: testConfig(opts.config), logger, api });
  }
  let browser: Browser;
  try {
    // launch() gives Chromium a fresh temporary user-data-dir of its own, removed on close
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  } catch (err) {
    await tern.close();
    throw err;
  }
  const base = `http://127.0.0.1:${tern.ports.http}`;
  const contexts: BrowserContext[] = [];
  return {
    tern,
    browser,
    base,
    confFile,
    async page(viewport = WIDE) {
      const context = await browser.newContext({ viewport });
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      return { context, page };
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
      await tern.close();
    },
  };
}

export async function login(page: Page, base: string, password = 'public', hashPath = '/overview'): Promise<void> {
  await page.goto(`${base}/#${hashPath}`);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((u) => !u.hash.startsWith('#/login'));
}

/**
 * one screenshot per page, theme and width: <name>-<theme>-<wide|narrow>.png. At phone width it
 * also checks that nothing widens the page past the screen (a sideways scroll of the whole page).
 */
export async function shoot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const theme = await page.evaluate(() => document.documentElement.dataset.theme ?? 'light');
  const width = page.viewportSize()?.width ?? 0;
  if (width <= 500) {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 0) throw new Error(`${name} (${theme}) scrolls sideways by ${overflow}px at ${width}px`);
  }
  // from the top, so the sticky bars sit where a user sees them
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${theme}-${width <= 500 ? 'narrow' : 'wide'}.png`), fullPage: true });
}

/** through the theme picker of the top bar, as a user would */
export async function setTheme(page: Page, theme: 'light' | 'dark'): Promise<void> {
  await page.getByTestId('theme').selectOption(theme);
  await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
}
