// The outbox's block encoding (server/hooks/block.ts): events back to back, read by id range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockBuilder, offsets, readBlock } from '../../server/hooks/block.ts';
import { packMeta, type OutboxRow } from '../../server/hooks/pack.ts';

const events: [string, Buffer | null][] = [
  ['["message.publish","a",1,"t/é",0,false,"c",null]', Buffer.from('hello')],
  ['["client.connected","b",2,{"clientid":"ü😀"}]', null],
  ['["message.publish","c",3,"t",1,false,"c",null]', Buffer.alloc(0)],
  ['["message.publish","d",4,"t",1,false,"c",null]', Buffer.alloc(5000, 7)],
];

function built(): BlockBuilder {
  const b = new BlockBuilder();
  for (const [meta, payload] of events) b.append(meta, payload);
  return b;
}

test('a block gives back each event whole, with ids first_id + index, within a range and a limit', () => {
  const b = built();
  assert.equal(b.size, 4);
  const data = Buffer.from(b.bytes());
  const all: OutboxRow[] = [];
  assert.equal(readBlock(100, data, 0, Infinity, 10, all), 4);
  assert.deepEqual(
    all.map((r) => [r.id, r.meta, r.payload && Buffer.from(r.payload).toString('hex')]),
    events.map(([meta, p], i) => [100 + i, meta, p && p.toString('hex')]),
  );
  assert.equal(all[1]!.payload, null, 'no payload stays null');
  assert.equal(all[2]!.payload!.byteLength, 0, 'an empty payload stays empty');
  const some: OutboxRow[] = [];
  assert.equal(readBlock(100, data, 100, 102, 10, some), 2, 'ids in (after, upTo]');
  assert.deepEqual(some.map((r) => r.id), [101, 102]);
  const one: OutboxRow[] = [];
  readBlock(100, data, 99, Infinity, 1, one);
  assert.deepEqual(one.map((r) => r.id), [100], 'at most limit');
});

test('dropFirst drops the oldest kept events; offsets cut a block into consecutive runs', () => {
  const b = built();
  b.dropFirst();
  b.dropFirst();
  assert.equal(b.size, 2);
  const rest: OutboxRow[] = [];
  readBlock(7, Buffer.from(b.bytes()), 0, Infinity, 10, rest);
  assert.deepEqual(rest.map((r) => r.meta), [events[2]![0], events[3]![0]]);

  const data = Buffer.from(built().bytes());
  const offs = offsets(data);
  assert.equal(offs.length, 5);
  assert.equal(offs[4], data.byteLength);
  // events 1..2 alone are bytes offs[1]..offs[3]
  const middle: OutboxRow[] = [];
  readBlock(11, data.subarray(offs[1], offs[3]), 0, Infinity, 10, middle);
  assert.deepEqual(middle.map((r) => [r.id, r.meta]), [[11, events[1]![0]], [12, events[2]![0]]]);
});

test('a block grows past its first buffer without losing what it holds', () => {
  const b = new BlockBuilder();
  const big = Buffer.alloc(100_000, 1);
  for (let i = 0; i < 30; i++) b.append(`["m",${i}]`, big);
  const rows: OutboxRow[] = [];
  readBlock(1, Buffer.from(b.bytes()), 0, Infinity, 100, rows);
  assert.equal(rows.length, 30);
  assert.ok(rows.every((r, i) => r.meta === `["m",${i}]` && r.payload!.byteLength === 100_000 && r.payload![99_999] === 1));
});

test('a message.publish event appended from its fields is stored as packMeta and its payload would be', () => {
  const odd = ['plain', 'comma, ["bracket"], \\"', 'quote " and \\ backslash', 'ctrl \u0001\n', 'del \u007f', 'line sep \u2028', 'lone \ud800 surrogate', 'é 😀', ''];
  for (const [i, s] of odd.entries()) {
    for (const ts of [0, 7, 1_733_000_000_123, Date.now()]) {
      const e = { id: `id-${s}`, ts, topic: `t/${s}`, qos: i % 3, retain: i % 2 === 0, from_clientid: i === 1 ? null : s, from_username: i % 2 ? null : s, payload: Buffer.from(s) };
      const direct = new BlockBuilder();
      direct.appendPublish(e);
      const packed = new BlockBuilder();
      packed.append(packMeta('message.publish', e as never), e.payload);
      assert.deepEqual(direct.bytes(), packed.bytes(), `${JSON.stringify(s)} ts ${ts}`);
    }
  }
});
