// Child process for the kill -9 test: enqueues messages through the sqlite mode and prints
// "ok <n>" once each mutation's promise has resolved, i.e. once it claims to be durable. The
// parent kills it with SIGKILL mid-stream and checks every acknowledged message survived.
import BetterSqlite3 from 'better-sqlite3';
import { createPersistence } from '../../server/broker/persistence/index.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: persistence-writer.ts <db file>');
const db = new BetterSqlite3(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const p = createPersistence({ mode: 'sqlite', db });
const broker = { id: 'writer', counter: 0 };
await p.setup(broker);
await p.addSubscriptions({ id: 'sub' }, [{ topic: 'load/#', qos: 1 }]);
process.stdout.write('ready\n');

let n = 0;
// bursts of concurrent enqueues, so batches hold many mutations when the kill lands
for (;;) {
  const burst: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    const seq = n++;
    const packet = {
      cmd: 'publish',
      topic: `load/${seq}`,
      payload: Buffer.from(String(seq)),
      qos: 1,
      retain: false,
      dup: false,
      brokerId: broker.id,
      brokerCounter: ++broker.counter,
    };
    burst.push(p.outgoingEnqueueCombi([{ clientId: 'sub', topic: 'load/#', qos: 1 }], packet).then(() => {
      process.stdout.write(`ok ${seq}\n`);
    }));
  }
  await Promise.all(burst);
}
