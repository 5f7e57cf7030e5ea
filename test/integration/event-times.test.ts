// The time a message event carries (MessageInfo.ts): a message's deliveries and its
// message.publish share the time of its routing (one clock read, server/broker/core/broker.ts
// RoutingClock), and a stored message delivered later (retained at a subscribe, queued at a
// reconnect) carries the time of that delivery. In both persistence modes: in memory mode the
// stored messages' payload Buffers are the same objects at every delivery. And for listeners that
// borrow (the lent event reads its clock only when ts is read: events.ts, LentMessage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTern, testConfig, connect, tcpUrl, endAll } from '../helpers/tern.ts';
import { borrowedBusEvents, busEvents, clockPast } from '../helpers/events.ts';

const mine = (e: { topic: string }) => e.topic.startsWith('times/');
const times = (e: { topic: string; clientid?: string; ts: number }) => ({ topic: e.topic, clientid: e.clientid ?? '', ts: e.ts });

for (const [persistence, borrows] of (['sqlite', 'memory'] as const).flatMap((p) => [false, true].map((b) => [p, b] as const))) {
  test(`persistence ${persistence}, ${borrows ? 'borrowing' : 'keeping'} listeners: a message's deliveries and its message.publish carry one time; a stored message's later deliveries, their own`, async () => {
    const tern = await startTestTern(testConfig((c) => (c.persistence = persistence)));
    try {
      const delivered = borrows ? borrowedBusEvents(tern.events, 'message.delivered', times, mine) : busEvents(tern.events, 'message.delivered', mine);
      const published = borrows ? borrowedBusEvents(tern.events, 'message.publish', times, mine) : busEvents(tern.events, 'message.publish', mine);
      const to = (clientid: string, topic: string) => delivered.seen.filter((e) => e.clientid === clientid && e.topic === topic);

      // live: under a clock that moves at every read, so two reads can never agree by chance
      const sub = await connect(tcpUrl(tern), { clientId: 'times-sub' });
      await sub.subscribeAsync('times/live');
      const pub = await connect(tcpUrl(tern), { clientId: 'times-pub' });
      const realNow = Date.now;
      let fake = realNow();
      Date.now = () => ++fake;
      try {
        await pub.publishAsync('times/live', 'x');
        await published.wait(1, 'message.publish');
        await delivered.wait(1, 'message.delivered');
      } finally {
        Date.now = realNow;
      }
      assert.equal(to('times-sub', 'times/live')[0]!.ts, published.seen[0]!.ts, 'one routing, one time');

      // retained: delivered again at each subscribe (both connected first: a subscribe, not a
      // connect, comes between the two deliveries)
      await pub.publishAsync('times/kept', 'r', { retain: true });
      const a = await connect(tcpUrl(tern), { clientId: 'times-a' });
      const b = await connect(tcpUrl(tern), { clientId: 'times-b' });
      await a.subscribeAsync('times/kept');
      await delivered.wait(2, 'the retained delivery to a');
      const first = to('times-a', 'times/kept')[0]!.ts;
      await clockPast(first);
      await b.subscribeAsync('times/kept');
      await delivered.wait(3, 'the retained delivery to b');
      assert.ok(to('times-b', 'times/kept')[0]!.ts > first, 'a later subscribe delivers at its own time');

      // queued: one message for two offline sessions, delivered as each reconnects
      for (const id of ['times-q1', 'times-q2']) {
        const c = await connect(tcpUrl(tern), { clientId: id, clean: false });
        await c.subscribeAsync('times/queued', { qos: 1 });
        await endAll(c);
      }
      await pub.publishAsync('times/queued', 'q', { qos: 1 });
      const q1 = await connect(tcpUrl(tern), { clientId: 'times-q1', clean: false });
      await delivered.wait(4, 'the queued delivery to q1');
      const queued = to('times-q1', 'times/queued')[0]!.ts;
      await clockPast(queued);
      const q2 = await connect(tcpUrl(tern), { clientId: 'times-q2', clean: false });
      await delivered.wait(5, 'the queued delivery to q2');
      assert.ok(to('times-q2', 'times/queued')[0]!.ts > queued, "each session's delivery carries its own time");

      delivered.stop();
      published.stop();
      await endAll(sub, pub, a, b, q1, q2);
    } finally {
      await tern.close();
    }
  });
}
