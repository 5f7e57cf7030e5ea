// Login, the default-password banner, every page in both themes at both widths, the narrow
// layout's menu, and an expired token coming back to the page it was on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, endAll, tcpUrl } from '../helpers/tern.ts';
import { NARROW, WIDE, login, setTheme, shoot, startE2E } from './browser.ts';

/** [screenshot name, route name, hash, tab to open] */
const PAGES: [string, string, string, string?][] = [
  ['overview', 'overview', '/overview'],
  ['clients', 'clients', '/clients'],
  ['client-detail', 'client', '/clients/pages-client'],
  ['subscriptions', 'subscriptions', '/subscriptions'],
  ['subscriptions-shared', 'subscriptions', '/subscriptions', 'Shared groups'],
  ['retained', 'retained', '/retained'],
  ['authentication', 'authentication', '/access/authentication'],
  ['authentication-clientids', 'authentication', '/access/authentication', 'Client-ID allow-list'],
  ['authentication-anonymous', 'authentication', '/access/authentication', 'Anonymous access'],
  ['authorization', 'authorization', '/access/authorization'],
  ['banned', 'banned', '/access/banned'],
  ['hooks', 'hooks', '/integrations/hooks'],
  ['broker-subscriptions', 'broker-subscriptions', '/integrations/broker-subscriptions'],
  ['settings', 'settings', '/settings'],
  ['settings-listeners', 'settings', '/settings', 'Listeners'],
  ['settings-admins', 'settings', '/settings', 'Administrators & API keys'],
  ['audit', 'audit', '/settings/audit'],
  ['tools', 'tools', '/tools'],
];

test('the dashboard is served at /, logs in, and every page renders in both themes at 1280 and 390 px', async () => {
  const e = await startE2E();
  // something to show on the pages that list things: a client with a subscription, a retained message
  const client = await connect(tcpUrl(e.tern), { clientId: 'pages-client', username: 'pages-user' });
  await client.subscribeAsync('pages/#', { qos: 1 });
  await client.publishAsync('pages/retained', 'kept', { qos: 1, retain: true });
  try {
    // a wrong password is answered in words next to the form
    const { page } = await e.page(WIDE);
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    await page.goto(e.base + '/');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'wrong username or password' }).waitFor();
    await shoot(page, 'login');

    await page.getByLabel('Password', { exact: true }).fill('public');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('node-name').filter({ hasText: e.tern.config.node.name }).waitFor();
    await page.getByTestId('default-password-banner').waitFor();

    for (const [width, viewport] of [['wide', WIDE], ['narrow', NARROW]] as const) {
      await page.setViewportSize(viewport);
      for (const theme of ['light', 'dark'] as const) {
        await setTheme(page, theme);
        for (const [name, route, hash, tab] of PAGES) {
          await page.goto(`${e.base}/#${hash}`);
          // this page's content, not the one before it (a hash change keeps the document)
          const main = page.locator(`main.content[data-page="${route}"]`);
          if (tab) await main.getByRole('tab', { name: tab, exact: true }).click();
          await main.locator('table, .empty, .cards, [data-testid=unavailable], dl.kv').first().waitFor();
          assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme, `${name} ${theme} ${width}`);
          // shoot() also fails a page that scrolls sideways at 390 px (with rows in its tables)
          await shoot(page, name);
        }
      }
    }
    // pages of features this node lacks say so instead of failing
    await page.setViewportSize(WIDE);
    await page.goto(`${e.base}/#/integrations/hooks`);
    if (!e.tern.api.spec.find('get', '/hooks')) await page.getByTestId('unavailable').waitFor();
    assert.deepEqual(pageErrors, []);
  } finally {
    await endAll(client);
    await e.close();
  }
});

test('narrow layout: the menu folds away and opens from the menu button; no horizontal page scroll', async () => {
  const e = await startE2E();
  try {
    const { page } = await e.page(NARROW);
    await login(page, e.base);
    const menu = page.getByRole('button', { name: 'Menu' });
    await menu.waitFor();
    const clientsLink = page.getByRole('link', { name: 'Clients & sessions' });
    const sidebarRight = () => page.evaluate(() => document.querySelector('.sidebar')!.getBoundingClientRect().right);
    assert.ok((await sidebarRight()) <= 0, 'the menu starts off-screen');
    await menu.click();
    await page.waitForFunction(() => document.querySelector('.sidebar')!.getBoundingClientRect().left >= 0);
    await shoot(page, 'menu-open');
    await clientsLink.click();
    await page.waitForURL((u) => u.hash === '#/clients');
    await page.waitForFunction(() => document.querySelector('.sidebar')!.getBoundingClientRect().right <= 0);
    // the Clients filter form: an even grid of two fields a row, each as wide as the other
    await page.getByRole('form', { name: 'Filter clients' }).waitFor();
    const boxes = await page
      .getByRole('form', { name: 'Filter clients' })
      .locator(':scope > .field:not(.inline)')
      .evaluateAll((els) => els.map((el) => { const r = el.getBoundingClientRect(); return { left: Math.round(r.left), width: Math.round(r.width) }; }));
    assert.equal(boxes.length, 6);
    const lefts = [...new Set(boxes.map((b) => b.left))];
    assert.equal(lefts.length, 2, `two columns, got lefts ${lefts.join(', ')}`);
    assert.ok(boxes.every((b) => Math.abs(b.width - boxes[0]!.width) <= 1), `even widths, got ${boxes.map((b) => b.width).join(', ')}`);
    for (const hash of ['/overview', '/clients', '/access/authentication', '/access/authorization', '/integrations/hooks', '/integrations/broker-subscriptions', '/settings', '/tools']) {
      await page.goto(`${e.base}/#${hash}`);
      await page.locator('main.content section').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${hash} scrolls sideways by ${overflow}px at 390px`);
    }
  } finally {
    await e.close();
  }
});

test('an expired or revoked token sends the user to login and back to the page they were on; the banner changes the default password', async () => {
  const e = await startE2E();
  try {
    const { page } = await e.page(WIDE);
    await login(page, e.base, 'public', '/access/authentication');
    await page.getByRole('tab', { name: 'Anonymous access' }).waitFor();
    // revoke the token behind the page's back (as expiry would)
    await page.evaluate(() => localStorage.setItem('tern.token', 'forged.token'));
    await page.getByRole('link', { name: 'Clients & sessions' }).click();
    await page.waitForURL((u) => u.hash.startsWith('#/login'));
    assert.match(decodeURIComponent(page.url()), /redirect=\/clients/);
    await page.getByText('Your session ended').waitFor();
    await page.getByLabel('Password', { exact: true }).fill('public');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL((u) => u.hash.startsWith('#/clients'));
    await page.getByTestId('empty').waitFor();

    // change the default password from the banner
    await page.getByRole('button', { name: 'Change it now' }).click();
    await page.getByLabel('Current password').fill('public');
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('New password again').fill('short');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('alert').filter({ hasText: 'at least 8' }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill('a-better-secret');
    await page.getByLabel('New password again').fill('a-better-secret');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByTestId('default-password-banner').waitFor({ state: 'detached' });
    const res = await fetch(`${e.base}/api/v5/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'a-better-secret' }) });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { default_password: boolean }).default_password, false);
  } finally {
    await e.close();
  }
});

test('pages of features this node may lack: "not available on this node" before the feature lands, the page itself after', async () => {
  const e = await startE2E();
  try {
    const { page } = await e.page(WIDE);
    await login(page, e.base);
    const has = (method: 'get' | 'post', p: string) => e.tern.api.spec.find(method, p) !== undefined;
    const cases: { hash: string; route: [method: 'get' | 'post', path: string]; tab?: string }[] = [
      { hash: '/integrations/hooks', route: ['get', '/hooks'] },
      { hash: '/integrations/broker-subscriptions', route: ['get', '/mqtt/auto_subscribe'] },
      { hash: '/access/banned', route: ['get', '/banned'] },
      { hash: '/access/authorization', route: ['get', '/authorization/sources/built_in_database/rules/clients'] },
      { hash: '/settings/audit', route: ['get', '/audit'] },
      { hash: '/subscriptions', route: ['get', '/shared_subscriptions'], tab: 'Shared groups' },
    ];
    for (const c of cases) {
      await page.goto(`${e.base}/#${c.hash}`);
      if (c.tab) await page.getByRole('tab', { name: c.tab }).click();
      const unavailable = page.getByTestId('unavailable');
      if (has(...c.route)) {
        await page.locator('main.content').locator('table, .empty:not([data-testid=unavailable])').first().waitFor();
        assert.equal(await unavailable.count(), 0, `${c.hash}: the node has ${c.route[1]}`);
      } else {
        await unavailable.filter({ hasText: 'not available on this node' }).first().waitFor();
        assert.equal(await page.getByRole('alert').count(), 0, `${c.hash}: a missing feature is not an error`);
      }
    }
    // reload: the dry run says so in place
    await page.goto(`${e.base}/#/settings`);
    await page.getByTestId('dry-run').click();
    if (has('post', '/configs/reload')) await page.getByTestId('reload-diff').waitFor();
    else await page.getByTestId('unavailable').waitFor();
  } finally {
    await e.close();
  }
});

test('dashboard.base_path: the same build works under /tern/ (assets, API calls, live stream)', async () => {
  const e = await startE2E({ config: (c) => (c.dashboard.base_path = '/tern') });
  try {
    const { page } = await e.page(WIDE);
    const apiCalls: string[] = [];
    page.on('request', (r) => r.url().includes('/api/v5/') && apiCalls.push(new URL(r.url()).pathname));
    await page.goto(e.base + '/');
    await page.waitForURL((u) => u.pathname === '/tern/');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill('public');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('node-name').filter({ hasText: e.tern.config.node.name }).waitFor();
    await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor();
    assert.ok(apiCalls.length > 0 && apiCalls.every((p) => p.startsWith('/tern/api/v5/')), apiCalls.join(' '));
    await page.getByRole('link', { name: 'Clients & sessions' }).click();
    await page.getByTestId('empty').waitFor();
    assert.equal(new URL(page.url()).pathname, '/tern/');
  } finally {
    await e.close();
  }
});

test("keyboard only: log in, reach the menu, cancel a destructive action's dialog", async () => {
  const e = await startE2E();
  try {
    const { page } = await e.page(WIDE);
    await page.goto(e.base + '/');
    await page.getByLabel('Username').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement).name), 'password');
    await page.keyboard.type('public');
    await page.keyboard.press('Enter');
    await page.getByTestId('node-name').waitFor();
    // Tab reaches the menu links in order, Enter follows one
    let reached = '';
    for (let i = 0; i < 10 && reached !== 'Clients & sessions'; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    }
    assert.equal(reached, 'Clients & sessions');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.hash === '#/clients');
    // a destructive action's dialog: Escape cancels it and nothing is deleted
    const c = await connect(tcpUrl(e.tern), { clientId: 'kb-1', clean: false });
    await c.endAsync();
    await page.locator('tr[data-clientid="kb-1"]').getByRole('button', { name: 'Discard' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    assert.ok(e.tern.sessions.get('kb-1'), 'cancelled: the session stays');
  } finally {
    await e.close();
  }
});
