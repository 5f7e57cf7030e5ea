// Access control and tools in the browser: a user added here can connect; anonymous access
// turned off for a zone refuses an anonymous CONNECT; the publish form, the browser's own
// WebSocket MQTT client, and retained messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, endAll, tcpUrl } from '../helpers/tern.ts';
import { WIDE, login, shoot, startE2E } from './browser.ts';

test('add an MQTT user and connect with it; anonymous off for the external zone refuses an anonymous connect', async () => {
  const e = await startE2E();
  const { page } = await e.page(WIDE);
  try {
    await login(page, e.base, 'public', '/access/authentication');
    const form = page.getByRole('form', { name: 'Add a user' });
    await form.getByLabel('User name').fill('alice');
    await form.getByLabel('Password').fill('alice-pass');
    await form.getByRole('button', { name: 'Add user' }).click();
    await page.getByTestId('users-table').getByRole('cell', { name: 'alice', exact: true }).waitFor();
    // adding her again is refused in words next to the form
    await form.getByLabel('User name').fill('alice');
    await form.getByLabel('Password').fill('x');
    await form.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('alert').filter({ hasText: /exists/i }).waitFor();

    const alice = await connect(tcpUrl(e.tern), { clientId: 'alice-1', username: 'alice', password: 'alice-pass' });
    await endAll(alice);
    await assert.rejects(connect(tcpUrl(e.tern), { clientId: 'alice-2', username: 'alice', password: 'wrong' }), /Bad username or password/i);

    await page.getByRole('tab', { name: 'Anonymous access' }).click();
    const external = page.locator('tr[data-zone="external"]');
    await external.getByTestId('source-external').filter({ hasText: 'emqx.conf' }).waitFor();
    const before = await connect(tcpUrl(e.tern), { clientId: 'anon-before' });
    await endAll(before);
    await external.getByLabel('allow anonymous in zone external').uncheck();
    await external.getByText('refused').waitFor();
    await external.getByTestId('source-external').filter({ hasText: 'API' }).waitFor();
    await shoot(page, 'anonymous-off');
    await assert.rejects(connect(tcpUrl(e.tern), { clientId: 'anon-after' }), /Not authorized/i);
    // the internal zone is untouched
    const internal = await connect(tcpUrl(e.tern, 'internal'), { clientId: 'anon-internal' });
    await endAll(internal);
    // alice still gets in with her password
    const alice2 = await connect(tcpUrl(e.tern), { clientId: 'alice-3', username: 'alice', password: 'alice-pass' });
    await endAll(alice2);

    // delete her, confirmed
    await page.getByRole('tab', { name: 'Users' }).click();
    await page.getByTestId('users-table').getByRole('button', { name: 'Delete' }).click();
    await page.getByTestId('confirm').click();
    await page.getByText('No MQTT users').waitFor();
    await assert.rejects(connect(tcpUrl(e.tern), { clientId: 'alice-4', username: 'alice', password: 'alice-pass' }));
  } finally {
    await e.close();
  }
});

test('the browser MQTT client (WebSocket) receives what the publish form sends; retained messages are listed, viewed and deleted', async () => {
  const e = await startE2E();
  const { page } = await e.page(WIDE);
  try {
    await login(page, e.base, 'public', '/tools');
    const wsForm = page.getByRole('form', { name: 'WebSocket connection' });
    await page.waitForFunction(() => (document.querySelector('form[aria-label="WebSocket connection"] input') as HTMLInputElement).value.includes('/mqtt'));
    await wsForm.getByRole('button', { name: 'Connect' }).click();
    await page.getByTestId('ws-state').filter({ hasText: /^connected$/ }).waitFor();
    const subForm = page.getByRole('form', { name: 'Subscribe' });
    await subForm.getByLabel('Topic filter').fill('tools/#');
    await subForm.getByRole('button', { name: 'Subscribe' }).click();
    await page.locator('.badge', { hasText: 'tools/#' }).waitFor();
    assert.ok([...Object.values(e.tern.aedes.clients)].some((c) => c.id.startsWith('dashboard-')));

    const pub = page.getByRole('form', { name: 'Publish a message' });
    await pub.getByLabel('Topic').fill('tools/greeting');
    await pub.getByLabel('Payload', { exact: true }).fill('hello from the form');
    await pub.getByLabel('retain').check();
    await pub.getByRole('button', { name: 'Publish' }).click();
    await page.getByTestId('ws-messages').getByRole('cell', { name: 'tools/greeting' }).waitFor();
    await page.getByTestId('ws-messages').getByRole('button', { name: 'payload' }).click();
    await page.getByTestId('payload').filter({ hasText: 'hello from the form' }).waitFor();
    await shoot(page, 'tools-ws');

    // a bad topic is answered in words
    await pub.getByLabel('Topic').fill('bad/#');
    await pub.getByRole('button', { name: 'Publish' }).click();
    await pub.getByRole('alert').filter({ hasText: 'wildcards' }).waitFor();

    await page.getByRole('link', { name: 'Retained messages' }).click();
    const row = page.getByRole('row').filter({ hasText: 'tools/greeting' });
    await row.waitFor();
    await row.getByRole('button', { name: 'View' }).click();
    await page.getByTestId('payload').filter({ hasText: 'hello from the form' }).waitFor();
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByTestId('confirm').click();
    await page.getByText('No retained messages').waitFor();
    assert.deepEqual(await e.tern.control.retained('#'), []);
  } finally {
    await e.close();
  }
});
