// Clients and sessions in the browser: a client appears without reload and moves the Overview's
// card and chart; sorting by queue depth with offline sessions holding queues; the detail view
// with queued payloads; kick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, endAll, tcpUrl } from '../helpers/tern.ts';
import { disconnectOf } from '../helpers/events.ts';
import { WIDE, login, shoot, startE2E } from './browser.ts';

test('a new MQTT client shows on Overview (card and live chart) and in Clients without a reload; kick closes it', async () => {
  const e = await startE2E();
  const { page } = await e.page(WIDE);
  let client: Awaited<ReturnType<typeof connect>> | undefined;
  try {
    await login(page, e.base);
    const card = page.getByTestId('card-connections').locator('.value');
    await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor();
    assert.equal(await card.textContent(), '0');
    // the chart is filled from the stored history on open
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=chart-connections-points]')?.textContent) > 0);

    client = await connect(tcpUrl(e.tern), { clientId: 'e2e-live', username: 'someone' });
    await card.filter({ hasText: /^1$/ }).waitFor();
    // read at once (before the next /stats load): the watermark is never below the count shown
    assert.equal(await page.getByTestId('card-connections').locator('.sub').textContent(), 'max 1');
    await page.getByTestId('chart-connections-last').filter({ hasText: /^1$/ }).waitFor();
    await shoot(page, 'overview-with-client');

    await page.getByRole('link', { name: 'Clients & sessions' }).click();
    const row = page.locator('tr[data-clientid="e2e-live"]');
    await row.waitFor();
    // a second client appears while the page stays open
    const second = await connect(tcpUrl(e.tern), { clientId: 'e2e-second' });
    await page.locator('tr[data-clientid="e2e-second"]').waitFor();
    await endAll(second);

    // kick, confirmed in the dialog
    const closed = new Promise<void>((resolve) => client!.once('close', () => resolve()));
    await row.getByRole('button', { name: 'Kick' }).click();
    await page.getByRole('dialog').getByText('Kick e2e-live?').waitFor();
    await page.getByTestId('confirm').click();
    await closed;
    await row.waitFor({ state: 'detached' });
    assert.equal(e.tern.sessions.get('e2e-live'), undefined);
  } finally {
    await endAll(client);
    await e.close();
  }
});

test('sort by mqueue_len with offline sessions holding queues; the detail view shows queued payloads as text and hex', async () => {
  const e = await startE2E();
  const { page } = await e.page(WIDE);
  try {
    // three persistent sessions go offline with 1, 3 and 2 queued messages
    const depth: Record<string, number> = { 'queue-a': 1, 'queue-b': 3, 'queue-c': 2 };
    for (const id of Object.keys(depth)) {
      const c = await connect(tcpUrl(e.tern), { clientId: id, clean: false });
      await c.subscribeAsync(`q/${id}`, { qos: 1 });
      // offline before the publishes, so they queue
      const gone = disconnectOf(e.tern, id);
      await endAll(c);
      await gone;
    }
    const pub = await connect(tcpUrl(e.tern), { clientId: 'publisher' });
    for (const [id, n] of Object.entries(depth)) {
      for (let i = 0; i < n; i++) await pub.publishAsync(`q/${id}`, `message ${i} for ${id}`, { qos: 1 });
    }
    await endAll(pub);
    for (const [id, n] of Object.entries(depth)) assert.equal(e.tern.sessions.get(id)?.mqueue_len, n, id);

    await login(page, e.base, 'public', '/clients');
    await page.locator('tr[data-clientid="queue-a"]').waitFor();
    await page.getByTestId('order-by').selectOption('mqueue_len');
    const order = () => page.locator('tbody tr[data-clientid]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-clientid')));
    await page.waitForFunction(() => /order_by=mqueue_len/.test(location.hash));
    await page.waitForFunction(() => document.querySelector('tbody tr[data-clientid]')?.getAttribute('data-clientid') === 'queue-b');
    assert.deepEqual(await order(), ['queue-b', 'queue-c', 'queue-a']);
    await shoot(page, 'clients-sorted');

    // the column header flips the direction
    await page.getByRole('button', { name: /^Queued/ }).click();
    await page.waitForFunction(() => document.querySelector('tbody tr[data-clientid]')?.getAttribute('data-clientid') === 'queue-a');
    assert.deepEqual(await order(), ['queue-a', 'queue-c', 'queue-b']);
    // the server sorted: the API answers the same order
    const token = await page.evaluate(() => localStorage.getItem('tern.token'));
    const api = (await (await fetch(`${e.base}/api/v5/clients?order_by=mqueue_len&order=asc`, { headers: { authorization: `Bearer ${token}` } })).json()) as { data: { clientid: string }[] };
    assert.deepEqual(api.data.map((c) => c.clientid), ['queue-a', 'queue-c', 'queue-b']);

    // offline filter, then the detail view of the deepest queue
    await page.getByLabel('State').selectOption('disconnected');
    await page.getByRole('link', { name: 'queue-b' }).click();
    await page.getByTestId('mqueue').waitFor();
    assert.equal(await page.getByTestId('mqueue').locator('tbody tr').count(), 3);
    await page.getByTestId('mqueue').getByRole('button', { name: 'Payload' }).first().click();
    await page.getByTestId('payload').filter({ hasText: 'message 0 for queue-b' }).waitFor();
    await page.getByLabel('hex').check();
    await page.getByTestId('payload').filter({ hasText: /^6d 65 73 73 61 67 65 20 30/ }).waitFor();
    await shoot(page, 'client-detail');

    // subscribe on its behalf, then discard the session
    await page.getByLabel('Topic filter').fill('extra/#');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await page.getByRole('cell', { name: 'extra/#' }).waitFor();
    assert.ok(e.tern.sessions.subscriptions('queue-b').some((s) => s.topic === 'extra/#'));
    await page.getByTestId('kick').click();
    await page.getByTestId('confirm').click();
    await page.waitForURL((u) => u.hash.startsWith('#/clients'));
    assert.equal(e.tern.sessions.get('queue-b'), undefined);
  } finally {
    await e.close();
  }
});
