// Micro-benchmark of the webhook outbox's cost on the broker's thread (scratch, not a scenario):
// N message.publish events packed, buffered and committed through a group commit, CPU µs/event.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../server/store/open.ts';
import { createGroupCommit } from '../../server/store/group-commit.ts';
import { Outbox } from '../../server/hooks/outbox.ts';
import { packMeta, packPayload } from '../../server/hooks/pack.ts';

const N = Number(process.argv[2] ?? 300_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'obm-'));
const logger = { info() {}, warn() {}, error(o: object, m: string) { console.error(m, o); }, debug() {}, child() { return logger; } } as never;
const store = await openStore({ dataDir: dir, logger });
const writer = createGroupCommit(store.sqlite);
const outbox = new Outbox({ sqlite: store.sqlite, writer, max: () => 100_000, inflightMax: () => 0, onDropped() {}, onCommitted() {}, onRequeued() {}, counters: () => ({ delivered: 0, failed: 0, dropped: 0, retried: 0, last_error: null, last_error_at: null, last_success_at: null }), logger });
outbox.load([1]);
const payload = Buffer.alloc(64, 97);
let seq = 0;
const prefix = Date.now().toString(36) + '-';
const c0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < N; i += 600) {
  for (let k = 0; k < 600; k++) {
    const e = { id: prefix + (seq++).toString(36), ts: Date.now(), topic: `bench/wh0/${k % 10}`, qos: 0, retain: false, payload, from_clientid: `wh0-hook-pub${k % 10}`, from_username: null };
    if (process.argv[3] !== "none") void outbox.add(1, packMeta('message.publish', e as never), packPayload('message.publish', e as never));
  }
  await new Promise((r) => setTimeout(r, 1));
  await outbox.uncommitted();
}
const c = process.cpuUsage(c0);
console.log(`${N} events: ${((c.user + c.system) / N).toFixed(2)} µs CPU/event (includes 1 ms timer waits), wall ${((performance.now() - t0) * 1000 / N).toFixed(2)} µs`);
const inTable = (store.sqlite.prepare('SELECT count(*) AS n FROM webhook_outbox WHERE hook_id = 1 AND status = 0').get() as { n: number }).n;
console.log(`pending counted ${outbox.pending(1)}, in the table ${inTable}`);
await writer.close();
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
