// A listener that borrows (events.ts, ListenOptions.borrows) on a real broker: the message events
// it gets are the channel's one lent object, refilled per event with the same fields a fresh
// event has, and a listener that keeps events turns lending off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTern, testConfig, connect, tcpUrl, nextMessages, endAll } from '../helpers/tern.ts';
import type { Tern } from '../../server/tern.ts';

let tern: Tern;
before(async () => {
  tern = await startTestTern(testConfig());
});
after(() => tern.close());

/** what a listener read of an event during its call, and the event object itself */
type Read = { object: object; id: string; topic: string; payload: string; qos: number; from_clientid: string | null; clientid?: string };

test('borrowing listeners of message.publish and message.delivered read every field of each message from one lent object per event name', async () => {
  const published: Read[] = [];
  const delivered: Read[] = [];
  const read = (e: { id: string; topic: string; payload: Buffer; qos: number; from_clientid: string | null }) => ({ object: e, id: e.id, topic: e.topic, payload: e.payload.toString(), qos: e.qos, from_clientid: e.from_clientid });
  const offs = [
    tern.events.on('message.publish', (e) => void published.push(read(e)), { borrows: true }),
    tern.events.on('message.delivered', (e) => void delivered.push({ ...read(e), clientid: e.clientid }), { borrows: true }),
  ];
  const [s1, s2, pub] = await Promise.all([connect(tcpUrl(tern), { clientId: 'lend-s1' }), connect(tcpUrl(tern), { clientId: 'lend-s2' }), connect(tcpUrl(tern), { clientId: 'lend-pub' })]);
  try {
    await s1.subscribeAsync('lend/#', { qos: 1 });
    await s2.subscribeAsync('lend/#', { qos: 0 });
    const got = Promise.all([nextMessages(s1, 3), nextMessages(s2, 3)]);
    for (const [i, qos] of [0, 1, 1].entries()) await pub.publishAsync(`lend/${i}`, `m${i}`, { qos: qos as 0 | 1 });
    await got;
    const mine = (list: Read[]) => list.filter((r) => r.topic.startsWith('lend/'));
    assert.deepEqual(
      mine(published).map((r) => [r.topic, r.payload, r.qos, r.from_clientid]),
      [0, 1, 2].map((i) => [`lend/${i}`, `m${i}`, i === 0 ? 0 : 1, 'lend-pub']),
    );
    assert.deepEqual(
      mine(delivered)
        .map((r) => `${r.clientid} ${r.topic} ${r.payload} from ${r.from_clientid}`)
        .sort(),
      ['lend-s1 lend/0 m0 from lend-pub', 'lend-s1 lend/1 m1 from lend-pub', 'lend-s1 lend/2 m2 from lend-pub', 'lend-s2 lend/0 m0 from lend-pub', 'lend-s2 lend/1 m1 from lend-pub', 'lend-s2 lend/2 m2 from lend-pub'],
    );
    assert.equal(new Set(published.map((r) => r.object)).size, 1, 'one lent message.publish object');
    assert.equal(new Set(delivered.map((r) => r.object)).size, 1, 'one lent message.delivered object');
    assert.notEqual(published[0]!.object, delivered[0]!.object);
    const ids = [...published, ...delivered].map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, 'an id of its own per event');

    // a listener that keeps what it gets: every event a fresh object again, unchanged afterwards
    const kept: { topic: string; payload: Buffer }[] = [];
    offs.push(tern.events.on('message.publish', (e) => void kept.push(e)));
    const more = nextMessages(s1, 2);
    await pub.publishAsync('lend/kept/a', 'ka', { qos: 1 });
    await pub.publishAsync('lend/kept/b', 'kb', { qos: 1 });
    await more;
    assert.deepEqual(
      kept.filter((e) => e.topic.startsWith('lend/kept/')).map((e) => [e.topic, e.payload.toString()]),
      [
        ['lend/kept/a', 'ka'],
        ['lend/kept/b', 'kb'],
      ],
    );
    assert.equal(new Set(kept).size, kept.length);
  } finally {
    for (const off of offs) off();
    await endAll(s1, s2, pub);
  }
});
