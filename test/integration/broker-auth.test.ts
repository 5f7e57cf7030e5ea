// Authentication in EMQX order (client-id allow-list, user table, anonymous per zone) over real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTern, testConfig, connect, tcpUrl, endAll } from '../helpers/tern.ts';

function connackCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

test('anonymous off for the external zone refuses with CONNACK 5 while the internal listener stays open', async () => {
  const tern = await startTestTern(
    testConfig((c) => {
      c.allow_anonymous = true;
      c.zones.external!.allow_anonymous = false;
    }),
  );
  try {
    await assert.rejects(connect(tcpUrl(tern, 'external'), { clientId: 'anon-ext' }), (err) => connackCode(err) === 5);
    await assert.rejects(connect(`ws://127.0.0.1:${tern.ports.ws.external}/mqtt`, { clientId: 'anon-ws' }), (err) => connackCode(err) === 5);
    const internal = await connect(tcpUrl(tern, 'internal'), { clientId: 'anon-int' });
    assert.ok(internal.connected);
    await endAll(internal);
  } finally {
    await tern.close();
  }
});

test('the global allow_anonymous applies to a zone that does not set its own', async () => {
  const tern = await startTestTern(
    testConfig((c) => {
      c.allow_anonymous = false;
      c.zones.external!.allow_anonymous = undefined;
      c.zones.internal!.allow_anonymous = true;
    }),
  );
  try {
    await assert.rejects(connect(tcpUrl(tern), { clientId: 'g1' }), (err) => connackCode(err) === 5);
    const internal = await connect(tcpUrl(tern, 'internal'), { clientId: 'g2' });
    await endAll(internal);
  } finally {
    await tern.close();
  }
});

test('users from the config: good password connects, bad password gets CONNACK 4, unknown user falls to anonymous', async () => {
  const config = testConfig((c) => {
    c.zones.external!.allow_anonymous = false;
    c.auth.users = [{ username: 'alice', password: 's3cret' }];
  });
  const tern = await startTestTern(config);
  try {
    const ok = await connect(tcpUrl(tern), { clientId: 'u1', username: 'alice', password: 's3cret' });
    await endAll(ok);
    await assert.rejects(
      connect(tcpUrl(tern), { clientId: 'u2', username: 'alice', password: 'wrong' }),
      (err) => connackCode(err) === 4,
    );
    await assert.rejects(connect(tcpUrl(tern), { clientId: 'u3', username: 'alice' }), (err) => connackCode(err) === 4);
    await assert.rejects(
      connect(tcpUrl(tern), { clientId: 'u4', username: 'mallory', password: 'x' }),
      (err) => connackCode(err) === 5,
    );
    // the hash, never the password, is stored
    const row = await tern.store.db.selectFrom('mqtt_user').selectAll().where('user_id', '=', 'alice').executeTakeFirstOrThrow();
    assert.ok(row.password_hash.startsWith('scrypt$'));
    assert.ok(!row.password_hash.includes('s3cret'));
  } finally {
    await tern.close();
  }
});

test('a client id on the allow-list is let in without credentials when anonymous is off', async () => {
  const tern = await startTestTern(
    testConfig((c) => {
      c.zones.external!.allow_anonymous = false;
      c.auth.clientids = ['device-42'];
    }),
  );
  try {
    const ok = await connect(tcpUrl(tern), { clientId: 'device-42' });
    await endAll(ok);
    await assert.rejects(connect(tcpUrl(tern), { clientId: 'device-43' }), (err) => connackCode(err) === 5);
    // added at runtime through the service the API uses: effective for the next CONNECT
    await tern.auth.addClientId('device-43');
    const now = await connect(tcpUrl(tern), { clientId: 'device-43' });
    await endAll(now);
  } finally {
    await tern.close();
  }
});

test('a restart keeps users added at runtime and API anonymous settings', async () => {
  const config = testConfig((c) => {
    c.zones.external!.allow_anonymous = true;
  });
  let tern = await startTestTern(config);
  await tern.auth.addUser({ user_id: 'bob', password: 'pw-bob' });
  await tern.auth.setAnonymous({ external: false });
  await tern.close();

  tern = await startTestTern(config); // same data_dir, same config file values
  try {
    assert.deepEqual(await tern.auth.getUser('bob'), { user_id: 'bob', is_superuser: false });
    assert.deepEqual((await tern.auth.getAnonymous()).external, { allow: false, source: 'api' });
    const ok = await connect(tcpUrl(tern), { clientId: 'b1', username: 'bob', password: 'pw-bob' });
    await endAll(ok);
    await assert.rejects(connect(tcpUrl(tern), { clientId: 'b2' }), (err) => connackCode(err) === 5);
  } finally {
    await tern.close();
  }
});
