// The hook chain: declared order, refusals, failing steps, sync and async steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHookChain, POLICY_ORDER, type ClientContext, type MessagePacket } from '../../server/broker/core/hook-chain.ts';

function quietLogger() {
  const errors: { obj: object; msg: string }[] = [];
  return { errors, logger: { error: (obj: object, msg: string) => errors.push({ obj, msg }) } };
}

const ctx: ClientContext = {
  clientid: 'c1',
  username: 'u1',
  zone: 'external',
  listener: 'tcp:external',
  isSuperuser: false,
  peerhost: () => '127.0.0.1',
  subscriptionCount: () => 0,
  hasSubscription: () => false,
};
const packet: MessagePacket = { topic: 'a/b', payload: Buffer.from('x'), qos: 1, retain: false };

test('steps on one hook run in POLICY_ORDER, not registration order', () => {
  const { logger } = quietLogger();
  const chain = createHookChain(logger);
  const ran: string[] = [];
  chain.add('authorizeSubscribe', 'acl', () => void ran.push('acl'));
  chain.add('authorizeSubscribe', 'protocol', () => void ran.push('protocol'));
  chain.add('authorizeSubscribe', 'sys-topics', () => void ran.push('sys-topics'));
  assert.equal(chain.runAuthorizeSubscribe(ctx, { topic: 't', qos: 0 }), undefined);
  assert.deepEqual(ran, ['protocol', 'sys-topics', 'acl']);
  assert.deepEqual(chain.policies('authorizeSubscribe'), ['protocol', 'sys-topics', 'acl']);
  assert.ok(POLICY_ORDER.indexOf('protocol') < POLICY_ORDER.indexOf('acl'));
});

test('either of two steps can refuse, and a refusal stops the chain', () => {
  const { logger } = quietLogger();
  const chain = createHookChain(logger);
  const ran: string[] = [];
  chain.add('authorizePublish', 'protocol', (_c, p) => {
    ran.push('protocol');
    return p.topic === 'bad' ? { disconnect: 'bad topic' } : undefined;
  });
  chain.add('authorizePublish', 'acl', (_c, p) => {
    ran.push('acl');
    return p.topic === 'secret' ? { drop: 'not_authorized', reason: 'acl' } : undefined;
  });
  assert.deepEqual(chain.runAuthorizePublish(ctx, { ...packet, topic: 'bad' }), { disconnect: 'bad topic' });
  assert.deepEqual(ran, ['protocol']);
  ran.length = 0;
  assert.deepEqual(chain.runAuthorizePublish(ctx, { ...packet, topic: 'secret' }), { drop: 'not_authorized', reason: 'acl' });
  assert.deepEqual(ran, ['protocol', 'acl']);
  ran.length = 0;
  assert.equal(chain.runAuthorizePublish(ctx, packet), undefined);
  assert.deepEqual(ran, ['protocol', 'acl']);
});

test('a synchronous chain answers synchronously (no promise on the hot path)', () => {
  const chain = createHookChain(quietLogger().logger);
  chain.add('authorizePublish', 'protocol', () => undefined);
  chain.add('authorizePublish', 'acl', () => undefined);
  const out = chain.runAuthorizePublish(ctx, packet);
  assert.equal(out instanceof Promise, false);
  assert.equal(out, undefined);
});

test('an async step continues the chain after it resolves, in order', async () => {
  const chain = createHookChain(quietLogger().logger);
  const ran: string[] = [];
  chain.add('connect', 'banned', async () => {
    await Promise.resolve();
    ran.push('banned');
    return undefined;
  });
  chain.add('connect', 'authentication', (_c, info) => {
    ran.push('authentication');
    return info.username === 'nobody' ? { returnCode: 4, reason: 'bad user name or password' } : undefined;
  });
  const info = { clientid: 'c', username: 'nobody', password: undefined, clean: true, keepalive: 0, protoName: 'MQTT', protoVer: 4 };
  const out = chain.runConnect(ctx, info);
  assert.ok(out instanceof Promise);
  assert.deepEqual(await out, { returnCode: 4, reason: 'bad user name or password' });
  assert.deepEqual(ran, ['banned', 'authentication']);
});

test('a step that throws is logged and refuses instead of crashing or letting the packet through', async () => {
  const { logger, errors } = quietLogger();
  const chain = createHookChain(logger);
  let later = false;
  chain.add('authorizeSubscribe', 'acl', () => {
    throw new Error('boom');
  });
  chain.add('authorizeSubscribe', 'sessions', () => {
    later = true;
    return undefined;
  });
  assert.equal(typeof chain.runAuthorizeSubscribe(ctx, { topic: 't', qos: 0 }), 'string');
  assert.equal(later, false);
  assert.equal(errors.length, 1);
  assert.deepEqual((errors[0]!.obj as { policy: string }).policy, 'acl');

  chain.add('connect', 'authentication', () => Promise.reject(new Error('db down')));
  const refusal = await chain.runConnect(ctx, { clientid: 'c', username: undefined, password: undefined, clean: true, keepalive: 0, protoName: 'MQTT', protoVer: 4 });
  assert.equal(refusal?.returnCode, 3);

  chain.add('authorizeForward', 'metrics', () => {
    throw new Error('forward boom');
  });
  assert.equal(chain.runAuthorizeForward(ctx, packet), false);
  assert.equal(errors.length, 3);
});

test('published steps all run (a failing one is logged, the next still runs); async ones are awaited in order', async () => {
  const { logger, errors } = quietLogger();
  const chain = createHookChain(logger);
  const ran: string[] = [];
  chain.add('published', 'webhooks', () => void ran.push('webhooks'));
  chain.add('published', 'sessions', async () => {
    await Promise.resolve();
    ran.push('sessions');
  });
  chain.add('published', 'metrics', () => {
    ran.push('metrics');
    throw new Error('count failed');
  });
  await chain.runPublished(packet, ctx);
  assert.deepEqual(ran, ['sessions', 'metrics', 'webhooks']);
  assert.equal(errors.length, 1);
});

test('a removed step no longer runs; an unknown policy name is refused', () => {
  const chain = createHookChain(quietLogger().logger);
  const remove = chain.add('authorizeSubscribe', 'acl', () => 'no');
  assert.equal(chain.runAuthorizeSubscribe(ctx, { topic: 't', qos: 0 }), 'no');
  remove();
  assert.equal(chain.runAuthorizeSubscribe(ctx, { topic: 't', qos: 0 }), undefined);
  assert.throws(() => chain.add('authorizeSubscribe', 'nope' as never, () => undefined), /unknown policy nope/);
});
