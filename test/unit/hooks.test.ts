// The webhook module's pure parts: backoff, signature, bodies (formatted directly, from the
// outbox's stored form, and as bytes from blocks), topic filter checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { EVENT_NAMES } from '../../server/broker/events.ts';
import { backoff } from '../../server/hooks/worker.ts';
import { signatureHeaders } from '../../server/hooks/delivery.ts';
import { actionOf, formatEvent, formatRow, sampleEvent } from '../../server/hooks/format.ts';
import { isBlockEvent, packMeta, packPayload, type QueuedEvent } from '../../server/hooks/pack.ts';
import { BlockBuilder, blockRow, queueBlock } from '../../server/hooks/block.ts';
import { BodyWriter } from '../../server/hooks/body.ts';
import { latencyPercentiles } from '../../server/hooks/stats.ts';
import { topicFilterProblem } from '../../server/hooks/registry.ts';

test('backoff doubles from retry_interval up to max_retry_interval, with half of it random', () => {
  const hook = { retry_interval: 100, max_retry_interval: 1000 };
  assert.equal(backoff(hook, 1, () => 0), 50);
  assert.equal(backoff(hook, 1, () => 1), 100);
  assert.equal(backoff(hook, 2, () => 1), 200);
  assert.equal(backoff(hook, 3, () => 0), 200);
  assert.equal(backoff(hook, 4, () => 1), 800);
  assert.equal(backoff(hook, 5, () => 1), 1000, 'capped');
  assert.equal(backoff(hook, 500, () => 0), 500, 'no overflow for large attempt counts');
});

test('signature: HMAC-SHA256 of "<timestamp>.<body>" with the secret, timestamp in Unix seconds', () => {
  const h = signatureHeaders('k', '{"a":1}', 1_700_000_000_999);
  assert.equal(h['x-tern-timestamp'], '1700000000');
  assert.equal(h['x-tern-signature'], 'sha256=' + createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex'));
});

test('every event has a body with action, node and id; payloads plain or base64', () => {
  for (const name of EVENT_NAMES) {
    const body = JSON.parse(formatEvent(name, sampleEvent(name), 'n@h', 'plain')) as Record<string, unknown>;
    assert.equal(body.action, actionOf(name));
    assert.equal(body.action, name.replace('.', '_'));
    assert.equal(body.node, 'n@h');
    assert.equal(typeof body.id, 'string');
    if (name.startsWith('message.')) {
      assert.equal(body.payload, 'hello');
      assert.equal(JSON.parse(formatEvent(name, sampleEvent(name), 'n', 'base64')).payload, Buffer.from('hello').toString('base64'));
      assert.equal(body.from_client_id, 'tern-test-client');
    }
  }
  const connack = JSON.parse(formatEvent('client.connack', { ...sampleEvent('client.connack'), conn_ack: 5 } as never, 'n', 'plain'));
  assert.equal(connack.conn_ack, 'not_authorized');
});

test('topic filters: # only last and whole, + only whole', () => {
  for (const ok of ['#', 'a/#', '+/b', 'a/+/c', '$SYS/#', 'a']) assert.equal(topicFilterProblem(ok), undefined, ok);
  for (const bad of ['', 'a/#/b', 'a#', 'a+/b', 'a/b+']) assert.ok(topicFilterProblem(bad), bad);
});

test('an event packed for the outbox and formatted at delivery gives the body formatEvent gives', () => {
  const odd = ['plain', 'comma, ["bracket"], \\"', 'quote " and \\ backslash', 'ctrl \u0001\n', 'line sep \u2028', 'lone \ud800 surrogate', 'é 😀'];
  for (const name of EVENT_NAMES) {
    for (const s of odd) {
      const base = sampleEvent(name) as unknown as Record<string, unknown>;
      const event = { ...base, id: `id-${s}`, ...(name.startsWith('message.') ? { topic: `t/${s}`, from_clientid: s, from_username: s === 'plain' ? null : s, payload: Buffer.from(s) } : { clientid: s }) };
      const stored = { meta: packMeta(name, event as never), payload: packPayload(name, event as never) };
      for (const enc of ['plain', 'base64'] as const) {
        assert.equal(formatRow(stored, 'n@h', enc), formatEvent(name, event as never, 'n@h', enc), `${name} ${JSON.stringify(s)} ${enc}`);
      }
    }
  }
});

test('a row of the first outbox layout is delivered with the body it was stored with', () => {
  assert.equal(formatRow({ meta: '["client.connected","x",1]', payload: null, body: '{"kept":true}' }, 'n', 'plain'), '{"kept":true}');
});

test('a body written as bytes from block events (body.ts) is the text formatRow gives, batched or not', () => {
  const odd = ['plain', 'comma, ["bracket"], \\"', 'quote " and \\ backslash', 'ctrl \u0001\n', 'line sep \u2028', 'lone \ud800 surrogate', 'é 😀', ''];
  const payloads = [...odd.map((s) => Buffer.from(s)), Buffer.from([0xff, 0xfe, 0x41]), Buffer.alloc(300, 0x61)];
  const stored: { meta: string; payload: Buffer | null }[] = [];
  for (const name of EVENT_NAMES) {
    for (const [i, s] of odd.entries()) {
      const base = sampleEvent(name) as unknown as Record<string, unknown>;
      const message = name.startsWith('message.');
      const event = { ...base, id: `id-${s}`, ...(message ? { topic: `t/${s}`, from_clientid: s, from_username: i % 2 ? null : s, payload: payloads[i] } : { clientid: s }) };
      stored.push({ meta: packMeta(name, event as never), payload: packPayload(name, event as never) });
    }
  }
  for (const p of payloads) stored.push({ meta: packMeta('message.publish', { ...sampleEvent('message.publish'), payload: p } as never), payload: p });
  const block = new BlockBuilder();
  for (const r of stored) block.append(r.meta, r.payload);
  const queued: QueuedEvent[] = [];
  queueBlock(1, Buffer.from(block.bytes()), 0, Infinity, Infinity, queued);
  assert.equal(queued.length, stored.length);
  // rows of their own among them: one failed a try, one of the first layout with its body
  queued.splice(3, 0, { id: 0, meta: stored[0]!.meta, payload: stored[0]!.payload, body: null, attempts: 1 }, { id: 0, meta: '["client.connected","x",1]', payload: null, body: '{"kept":true}', attempts: 0 });
  const writer = new BodyWriter();
  for (const enc of ['plain', 'base64'] as const) {
    const text = queued.map((e) => formatRow(isBlockEvent(e) ? blockRow(e) : e, 'n@h', enc));
    assert.equal(writer.body(queued, { batch_size: 500, payload_encoding: enc }, 'n@h').toString(), `[${text.join(',')}]`, enc);
    for (const [i, e] of queued.entries()) assert.equal(writer.body([e], { batch_size: 1, payload_encoding: enc }, 'n@h').toString(), text[i], `${enc} ${i}`);
  }
  assert.match(writer.body(queued.slice(-1), { batch_size: 1, payload_encoding: 'plain' }, 'other@node').toString(), /"node":"other@node"/, 'a new node name');
});

test('latency percentiles over several hooks take their samples together; none without a sample', () => {
  assert.deepEqual(latencyPercentiles([Float64Array.of(3, 1, 2), Float64Array.of(100)]), [3, 100]);
  assert.deepEqual(latencyPercentiles([Float64Array.of(1.234567)]), [1.23, 1.23]);
  assert.deepEqual(latencyPercentiles([new Float64Array(0)]), [null, null]);
  assert.deepEqual(latencyPercentiles([]), [null, null]);
});
