// What the dashboard changes, seen from the outside: an ACL rule added on Access control refuses
// an mqtt.js client's SUBSCRIBE; a webhook created on Hooks delivers to a real HTTP receiver and
// its delivered count rises on the page; a broker subscription added on Broker subscriptions makes
// a connected client receive; a changed emqx.conf is reloaded from Settings, diff first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { connect, endAll, nextMessages, tcpUrl } from '../helpers/tern.ts';
import { granted, writeTemp } from '../helpers/access.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { busEvents } from '../helpers/events.ts';
import { NARROW, WIDE, login, setTheme, shoot, startE2E } from './browser.ts';

test('Access control: a database rule added in the page refuses the SUBSCRIBE (SUBACK 0x80); a second rule is added to the first; the checker names the rule; acl_file\'s rules are listed with their lines', async () => {
  const aclFile = writeTemp('acl.conf', ['%% file rules, after the database ones', '{deny, {client, "acl-dev"}, subscribe, ["forbidden/#"]}.', '{allow, all}.', ''].join('\n'));
  const e = await startE2E({ config: (c) => (c.acl_file = aclFile) });
  const { page } = await e.page(WIDE);
  const dev = await connect(tcpUrl(e.tern), { clientId: 'acl-dev' });
  try {
    assert.deepEqual(await granted(dev, ['secret/a']), [0], 'allowed before the rule');
    await login(page, e.base, 'public', '/access/authorization');
    const form = page.getByRole('form', { name: 'Add an ACL rule' });
    await form.getByLabel(/^For/).selectOption('clients');
    await form.getByLabel(/^Client ID/).fill('acl-dev');
    await form.getByLabel('Rule action').selectOption('subscribe');
    await form.getByLabel('Permission').selectOption('deny');
    await form.getByLabel('Topic').fill('secret/#');
    await form.getByRole('button', { name: 'Add rule' }).click();
    const row = page.getByTestId('db-rules').getByRole('row').filter({ hasText: 'acl-dev' });
    await row.getByText('deny subscribe').waitFor();

    // the next SUBSCRIBE of the connected client is refused; others are not
    assert.deepEqual(await granted(dev, ['secret/b', 'open/b']), [128, 0]);

    // a second rule for the same client joins the first (the API replaces a client's rules whole)
    await form.getByLabel(/^Client ID/).fill('acl-dev');
    await form.getByLabel('Rule action').selectOption('publish');
    await form.getByLabel('Permission').selectOption('allow');
    await form.getByLabel('Topic').fill('telemetry/#');
    await form.getByRole('button', { name: 'Add rule' }).click();
    await row.getByText('allow publish').waitFor();
    await row.getByText('deny subscribe').waitFor();
    assert.deepEqual(await granted(dev, ['secret/c']), [128], 'the first rule is still in force');

    // "is this allowed?" says no and which rule decided
    const check = page.getByRole('form', { name: 'Check an ACL decision' });
    await check.getByLabel('Client ID', { exact: true }).fill('acl-dev');
    await check.getByLabel(/^Action/).selectOption('subscribe');
    await check.getByLabel('Topic').fill('secret/x');
    await check.getByRole('button', { name: 'Check' }).click();
    await page.getByTestId('acl-decision').filter({ hasText: 'deny' }).filter({ hasText: 'rule 1 of the rules of clientid acl-dev' }).waitFor();
    // the file's rules, read-only, with their lines; the checker names the file line that decides
    const fileRules = page.getByTestId('file-rules');
    await fileRules.getByRole('row').filter({ hasText: 'forbidden/#' }).getByRole('cell', { name: '2', exact: true }).waitFor();
    await fileRules.getByRole('row').filter({ hasText: '{allow, all}.' }).getByRole('cell', { name: '3', exact: true }).waitFor();
    await check.getByLabel('Topic').fill('forbidden/x');
    await check.getByRole('button', { name: 'Check' }).click();
    await page.getByTestId('acl-decision').filter({ hasText: `${aclFile}:2` }).waitFor();
    assert.deepEqual(await granted(dev, ['forbidden/y']), [128]);
    await shoot(page, 'authorization-rules');
    // a bad topic filter is answered in words next to the form
    await form.getByLabel(/^Client ID/).fill('acl-dev');
    await form.getByLabel('Topic').fill('bad/#/x');
    await form.getByRole('button', { name: 'Add rule' }).click();
    await form.locator('xpath=..').getByRole('alert').waitFor();

    // one rule removed, confirmed: the other stays
    await row.getByRole('button', { name: 'remove rule 2 of acl-dev' }).click();
    await page.getByTestId('confirm').click();
    await row.getByText('allow publish').waitFor({ state: 'detached' });
    await row.getByText('deny subscribe').waitFor();
    // delete, confirmed: the SUBSCRIBE is granted again
    await row.getByRole('button', { name: 'Delete all' }).click();
    await page.getByTestId('confirm').click();
    await row.waitFor({ state: 'detached' });
    assert.deepEqual(await granted(dev, ['secret/d']), [0]);
  } finally {
    await endAll(dev);
    await e.close();
  }
});

test('Hooks: a webhook created in the page delivers to a real receiver and its delivered count rises on the page; the event list is the spec\'s', async () => {
  const receiver = await startReceiver('/e2e-hook');
  const e = await startE2E();
  const { page } = await e.page(WIDE);
  let pub: Awaited<ReturnType<typeof connect>> | undefined;
  try {
    await login(page, e.base, 'public', '/integrations/hooks');
    await page.getByText('No webhooks').waitFor();
    const form = page.getByRole('form', { name: 'Webhook' });
    // every event of the spec's enum, the session ones the old hand-kept list lacked among them
    for (const ev of ['session.resumed', 'session.takeovered', 'session.discarded', 'message.publish', 'client.connected']) {
      await form.getByLabel(ev, { exact: true }).waitFor();
    }
    const offered = await form.locator('fieldset input[type=checkbox]').evaluateAll((xs) => xs.map((x) => (x as HTMLInputElement).value));
    const spec = (await (await fetch(`${e.base}/api-docs/openapi.json`)).json()) as { components: { schemas: { HookCreate: { properties: { events: { items: { enum: string[] } } } } } } };
    assert.deepEqual(offered, spec.components.schemas.HookCreate.properties.events.items.enum);

    await form.getByLabel('Name', { exact: true }).fill('e2e-hook');
    await form.getByLabel(/^URL/).fill(receiver.url);
    await form.getByLabel(/^Topic filters/).fill('e2e/#');
    await form.getByRole('button', { name: 'Add webhook' }).click();
    const row = page.locator('tr[data-hook="e2e-hook"]');
    await row.locator('[data-col=delivered]').filter({ hasText: /^0$/ }).waitFor();
    assert.equal(e.tern.webhooks.list().length, 1);

    pub = await connect(tcpUrl(e.tern), { clientId: 'hook-pub' });
    await pub.publishAsync('e2e/one', 'first', { qos: 1 });
    await pub.publishAsync('other/topic', 'not for the hook', { qos: 1 });
    await pub.publishAsync('e2e/two', 'second', { qos: 1 });
    const got = await receiver.until(() => (receiver.delivered().length >= 2 ? receiver.delivered() : undefined), 'two message.publish events');
    assert.deepEqual(got.map((ev) => ev.topic), ['e2e/one', 'e2e/two']);
    // the page shows what the receiver saw, without a reload
    await row.locator('[data-col=delivered]').filter({ hasText: /^2$/ }).waitFor();
    await shoot(page, 'hooks-delivered');

    // test-send: the receiver's answer, in words
    const before = receiver.requests.length;
    await row.getByRole('button', { name: 'Test' }).click();
    await page.getByTestId('hook-test').filter({ hasText: 'HTTP 200' }).waitFor();
    assert.equal(receiver.requests.length, before + 1);

    // edit: one attempt per event, and client.connected too
    await row.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit e2e-hook' }).waitFor();
    await form.getByLabel('client.connected', { exact: true }).check();
    await form.getByLabel(/^Max attempts/).fill('1');
    await form.getByRole('button', { name: 'Save' }).click();
    await row.getByText('client.connected').waitFor();
    assert.equal(e.tern.webhooks.list()[0]!.max_attempts, 1);
    const other = await connect(tcpUrl(e.tern), { clientId: 'hook-connected' });
    await receiver.until(() => receiver.delivered().find((ev) => ev.action === 'client_connected' && ev.clientid === 'hook-connected'), 'client.connected of hook-connected');
    await endAll(other);

    // a failing endpoint: the event becomes a dead letter, the row says why, the outbox lists it
    receiver.mode = { kind: 'status', status: 503 };
    await pub.publishAsync('e2e/three', 'third', { qos: 1 });
    await row.locator('[data-col=failed]').filter({ hasText: /^1$/ }).waitFor();
    await row.getByText(/503/).first().waitFor();
    await row.getByRole('button', { name: /^Outbox/ }).click();
    const dead = page.getByTestId('outbox').getByRole('row').filter({ hasText: 'message.publish' }).filter({ hasText: '503' });
    await dead.waitFor();
    await setTheme(page, 'dark');
    await shoot(page, 'hooks-dead-letter');
    await setTheme(page, 'light');
    // the endpoint is back: retry sends it again
    receiver.mode = { kind: 'ok' };
    await page.getByRole('button', { name: 'Retry all dead letters' }).click();
    await receiver.until(() => receiver.delivered().find((ev) => ev.topic === 'e2e/three'), 'the retried e2e/three');
    await page.getByText('No dead letters').waitFor();

    // disable, then delete (confirmed)
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByText('disabled', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByText('Delete webhook e2e-hook?').waitFor();
    await page.getByTestId('confirm').click();
    await page.getByText('No webhooks').waitFor();
    assert.equal(e.tern.webhooks.list().length, 0);
  } finally {
    await endAll(pub);
    await e.close();
    await receiver.close();
  }
});

test('Broker subscriptions: one added in the page subscribes the connected client at once, and it receives what is published there', async () => {
  const e = await startE2E();
  const { page } = await e.page(WIDE);
  const dev = await connect(tcpUrl(e.tern), { clientId: 'bs-dev' });
  const pub = await connect(tcpUrl(e.tern), { clientId: 'bs-pub' });
  try {
    await login(page, e.base, 'public', '/integrations/broker-subscriptions');
    await page.getByText('No per-client subscriptions').waitFor();
    const form = page.getByRole('form', { name: 'Add a broker subscription' });
    await form.getByLabel('Client ID').fill('bs-dev');
    await form.getByLabel('Topic filter').fill('cmd/bs-dev/#');
    await form.getByLabel('QoS').selectOption('1');
    await form.getByRole('button', { name: 'Add' }).click();
    await page.getByTestId('broker-sub-added').filter({ hasText: 'subscribed now with QoS 1' }).waitFor();
    await page.getByTestId('broker-subs').locator('tr[data-topic="cmd/bs-dev/#"] [data-col=granted]').filter({ hasText: 'QoS 1' }).waitFor();

    await pub.publishAsync('cmd/bs-dev/reboot', 'now', { qos: 1 });
    const [m] = await nextMessages(dev, 1);
    assert.deepEqual([m!.topic, m!.payload, m!.qos], ['cmd/bs-dev/reboot', 'now', 1]);
    await shoot(page, 'broker-subscriptions-added');
    await page.setViewportSize(NARROW);
    await shoot(page, 'broker-subscriptions-added');
    await page.setViewportSize(WIDE);

    // a refused one (a wildcard-free check: the topic is invalid) is answered next to the form
    await form.getByLabel('Client ID').fill('bs-dev');
    await form.getByLabel('Topic filter').fill('a/#/b');
    await form.getByRole('button', { name: 'Add' }).click();
    await form.locator('xpath=..').getByRole('alert').waitFor();

    // removed, confirmed: the client is unsubscribed
    await page.locator('tr[data-topic="cmd/bs-dev/#"]').getByRole('button', { name: 'Remove' }).click();
    await page.getByTestId('confirm').click();
    await page.getByText('No per-client subscriptions').waitFor();
    assert.ok(!e.tern.sessions.subscriptions('bs-dev').some((s) => s.topic === 'cmd/bs-dev/#'));
  } finally {
    await endAll(dev, pub);
    await e.close();
  }
});

test('Auto-subscribe: a template added in the page subscribes each client that connects, with its own client id; removed in the page, the node has none', async () => {
  const e = await startE2E();
  const { page } = await e.page(WIDE);
  const pub = await connect(tcpUrl(e.tern), { clientId: 'tpl-pub' });
  const clients: Awaited<ReturnType<typeof connect>>[] = [];
  try {
    await login(page, e.base, 'public', '/integrations/broker-subscriptions');
    await page.getByText('No templates').waitFor();
    const form = page.getByRole('form', { name: 'Add a template' });
    await form.getByLabel('Topic filter').fill('inbox/${clientid}');
    await form.getByLabel('QoS').selectOption('1');
    await form.getByRole('button', { name: 'Add template' }).click();
    await page.getByRole('cell', { name: 'inbox/${clientid}' }).waitFor();
    await shoot(page, 'auto-subscribe-template');

    // a client connecting now is subscribed to its own inbox right after its CONNACK
    const applied = busEvents(e.tern.events, 'session.subscribed', (ev) => ev.clientid === 'tpl-dev' && ev.source === 'broker');
    const dev = await connect(tcpUrl(e.tern), { clientId: 'tpl-dev' });
    clients.push(dev);
    const [sub] = await applied.wait(1, 'the template applied to tpl-dev');
    assert.equal(sub!.topic, 'inbox/tpl-dev');
    const got = nextMessages(dev, 1);
    await pub.publishAsync('inbox/tpl-dev', 'hello', { qos: 1 });
    const [m] = await got;
    assert.deepEqual([m!.topic, m!.payload, m!.qos], ['inbox/tpl-dev', 'hello', 1]);

    // removed (confirmed): the page's list and the node's are empty (what connects later is the
    // integration tests' business: routing-broker-subscriptions.test.ts)
    assert.equal(e.tern.brokerSubscriptions.templates().length, 1);
    await page.getByRole('row', { name: /inbox\/\$\{clientid\}/ }).getByRole('button', { name: 'Remove' }).click();
    await page.getByTestId('confirm').click();
    await page.getByText('No templates').waitFor();
    assert.deepEqual(e.tern.brokerSubscriptions.templates(), []);
  } finally {
    await endAll(pub, ...clients);
    await e.close();
  }
});

test('Settings: each value shows its source (file line, default), secrets masked; a changed emqx.conf is reloaded with its diff (hot, rebind, restart) first, then applied', async () => {
  const e = await startE2E({ confLines: ['zone.external.max_mqueue_len = 100', 'dashboard.default_user.password = public'] });
  const file = e.confFile!;
  const { page } = await e.page(WIDE);
  try {
    await login(page, e.base, 'public', '/settings');
    const cfg = page.getByTestId('config-table');
    const key = (k: string) => cfg.locator(`tr[data-key="${k}"]`);
    await key('zones.external.max_mqueue_len').getByText(`${file}:7`).waitFor();
    assert.equal(await key('zones.external.max_mqueue_len').locator('[data-source]').getAttribute('data-source'), 'file');
    assert.equal(await key('mqtt.max_packet_size').locator('[data-source]').getAttribute('data-source'), 'default');
    const secret = key('dashboard.default_user.password');
    assert.equal(await secret.locator('td').nth(1).textContent(), '******');
    assert.equal(await secret.locator('[data-source]').getAttribute('data-source'), 'file');
    await shoot(page, 'settings-sources');

    // edit the file: a hot key, a new listener (rebind), the node name (restart)
    const text = fs.readFileSync(file, 'utf8').replace('zone.external.max_mqueue_len = 100', 'zone.external.max_mqueue_len = 250');
    fs.writeFileSync(file, text + 'listener.tcp.extra = 127.0.0.1:0\nnode.name = renamed@127.0.0.1\n');

    await page.getByTestId('dry-run').click();
    const diff = page.getByTestId('reload-diff');
    const cls = (k: string) => diff.locator(`tr[data-key="${k}"] [data-col=class]`);
    await cls('zone.external.max_mqueue_len').filter({ hasText: 'hot' }).waitFor();
    await cls('listener.tcp.extra').filter({ hasText: 'rebind' }).waitFor();
    await cls('node.name').filter({ hasText: 'restart' }).waitFor();
    await diff.getByText('Need a restart to apply').waitFor();
    assert.equal(e.tern.config.zones.external!.max_mqueue_len, 100, 'a dry run changes nothing');
    assert.equal(e.tern.ports.tcp.extra, undefined);
    await shoot(page, 'settings-reload-diff');
    await page.setViewportSize(NARROW);
    await shoot(page, 'settings-reload-diff');
    await page.setViewportSize(WIDE);

    await page.getByTestId('apply-reload').click();
    await page.getByRole('dialog').getByText('Apply the new configuration').waitFor();
    await page.getByTestId('confirm').click();
    await page.getByTestId('reload-applied').locator('tr[data-key="zone.external.max_mqueue_len"]').waitFor();
    // in force: the value, a client of the new listener, the table with the file's line
    assert.equal(e.tern.config.zones.external!.max_mqueue_len, 250);
    const extra = await connect(`mqtt://127.0.0.1:${e.tern.ports.tcp.extra}`, { clientId: 'on-extra', clean: false });
    assert.equal(e.tern.sessions.get('on-extra')?.mqueue_max, 250);
    await endAll(extra);
    await key('zones.external.max_mqueue_len').locator('td').nth(1).filter({ hasText: /^250$/ }).waitFor();
    await key('zones.external.max_mqueue_len').getByText(`${file}:7`).waitFor();
    assert.notEqual(e.tern.config.node.name, 'renamed@127.0.0.1', 'node.name waits for a restart');
    await shoot(page, 'settings-reloaded');

    // the audit log has both reloads (the dry run and the apply): who, the operation, the request, its status
    await page.getByRole('link', { name: 'Audit log' }).click();
    const audit = page.locator('main.content[data-page="audit"]').getByRole('row').filter({ hasText: 'reloadConfigs' });
    await audit.first().waitFor();
    assert.equal(await audit.count(), 2);
    // newest first: the apply, then the dry run, told apart by their query
    const texts = (await audit.allInnerTexts()).map((t) => t.replace(/\s+/g, ' '));
    assert.match(texts[0]!, /admin \(admin\) reloadConfigs POST \/configs\/reload\?dry_run=false 200 127\.0\.0\.1/);
    assert.match(texts[1]!, /admin \(admin\) reloadConfigs POST \/configs\/reload\?dry_run=true 200 127\.0\.0\.1/);
    await shoot(page, 'audit-rows');
  } finally {
    await e.close();
  }
});
