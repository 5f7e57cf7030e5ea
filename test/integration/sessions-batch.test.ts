// Session metadata (mqtt_session rows) goes through the persistence's group commit, never inside
// someone else's transaction: an unrelated kysely transaction that rolls back while a persistent
// client connects cannot take the session's row with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startTestTern, connect, tcpUrl, endAll } from '../helpers/tern.ts';
import { busEvents } from '../helpers/events.ts';

test('a persistent session registered during an unrelated kysely transaction that rolls back keeps its mqtt_session row', async () => {
  const tern = await startTestTern();
  const reader = new Database(path.join(tern.config.node.data_dir, 'tern.db'), { readonly: true });
  const row = () => reader.prepare('select clientid from mqtt_session where clientid = ?').get('during-rollback') as { clientid: string } | undefined;
  try {
    const created = busEvents(tern.events, 'session.created', (e) => e.clientid === 'during-rollback');
    let connecting: ReturnType<typeof connect> | undefined;
    await tern.store.db
      .transaction()
      .execute(async () => {
        // the session is registered (its row written) while the transaction is open
        connecting = connect(tcpUrl(tern), { clientId: 'during-rollback', clean: false });
        await created.wait(1, 'session.created');
        throw new Error('rolled back on purpose');
      })
      .catch((err: Error) => assert.equal(err.message, 'rolled back on purpose'));
    const c = await connecting!;
    await tern.persistence.flush();
    // still connected: nothing has written the row again since
    assert.equal(row()?.clientid, 'during-rollback');
    await endAll(c);
  } finally {
    reader.close();
    await tern.close();
  }
});
