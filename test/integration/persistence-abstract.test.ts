// aedes-persistence's own conformance suite, run against both modes the way its test/ runs its
// in-memory implementation (test-directAsync.js: the async API, setup(broker) called by the suite).
import { after, test, type TestContext } from 'node:test';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { createPersistence, type QueuePolicy, type TernPersistence } from '../../server/broker/persistence/index.ts';
import { createDb } from '../helpers/persistence-db.ts';

type AbstractSuite = (opts: { test: typeof test; persistence: () => Promise<TernPersistence> | TernPersistence; testAsync: boolean }) => void;
const require = createRequire(import.meta.url);
const abstractPersistence = require('aedes-persistence/abstract.js') as AbstractSuite;

const dbs: BetterSqlite3.Database[] = [];
after(() => {
  for (const db of dbs) db.close();
});

/** the suite's test names, prefixed so the three runs can be told apart */
const named = (prefix: string): typeof test =>
  ((name: string, fn: (t: TestContext) => Promise<void>) => test(`${prefix}: ${name}`, fn)) as typeof test;

// Default policy (no cap, QoS 0 not stored): the reference behaviour the suite pins.
abstractPersistence({ test: named('memory'), testAsync: true, persistence: () => createPersistence({ mode: 'memory' }) });

abstractPersistence({
  test: named('sqlite'),
  testAsync: true,
  persistence: async () => {
    const db = await createDb();
    dbs.push(db);
    return createPersistence({ mode: 'sqlite', db });
  },
});

// EMQX's defaults with every client online: QoS 0 storage and the cap are active but must not
// change anything the suite observes (online clients never get QoS 0 queued, nor capped).
const emqxOnline: QueuePolicy = {
  maxQueueLen: () => 1000,
  storeQos0: () => true,
  onDropped: () => {},
  isOnline: () => true,
};
abstractPersistence({
  test: named('sqlite, EMQX policy, clients online'),
  testAsync: true,
  persistence: async () => {
    const db = await createDb();
    dbs.push(db);
    return createPersistence({ mode: 'sqlite', db, policy: emqxOnline });
  },
});
