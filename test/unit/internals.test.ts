// What Tern relies on inside the packages it builds on, checked against the installed packages
// themselves (not through Tern): aedes, mqemitter, mqtt-packet, aedes-packet, qlobber, node:net.
// None of it is their documented API, which is why aedes, mqemitter and mqtt-packet are pinned
// exactly in package.json. An upgrade that changes one of these fails here, naming the Tern code
// that depends on it (mostly server/broker/core/internals/{aedes,mqemitter,mqtt-packet}.ts).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Aedes } from 'aedes';
import mqemitter from 'mqemitter';
import mqttPacket from 'mqtt-packet';
import { openRaw, type RawPeer } from '../helpers/raw.ts';
import { mayHaveLiveSubscriberUnder } from '../../server/broker/core/internals/mqemitter.ts';

const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

// ---- mqtt-packet --------------------------------------------------------------------------------

interface ParserInternals {
  _states: string[];
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  _emitError(err: Error): void;
  [step: string]: unknown;
}

describe('mqtt-packet Parser', () => {
  test('_states lists _parseHeader, _parseLength, _parsePayload, _newPacket in that order, each a method, and _emitError exists (core/internals/mqtt-packet.ts packetSizeLimiter)', () => {
    const parser = mqttPacket.parser() as unknown as ParserInternals;
    assert.deepEqual(parser._states, ['_parseHeader', '_parseLength', '_parsePayload', '_newPacket']);
    for (const step of [...parser._states, '_emitError']) assert.equal(typeof parser[step], 'function', `Parser.${step}`);
  });

  test('parse() runs the steps an instance names in _states: a length step sees packet.length before the body arrives, and stops parsing with _emitError (core/internals/mqtt-packet.ts packetSizeLimiter)', () => {
    const seen: number[] = [];
    const make = () => {
      const parser = mqttPacket.parser() as unknown as ParserInternals & import('node:events').EventEmitter;
      // on the instance, so the package's prototype stays as it was found
      parser._checkedLength = function (this: ParserInternals): boolean {
        const ok = this._parseLength();
        if (ok) seen.push(this.packet.length);
        if (ok && this.packet.length > 100) {
          this._emitError(new Error('too big'));
          return false;
        }
        return ok;
      };
      parser._states = ['_parseHeader', '_checkedLength', '_parsePayload', '_newPacket'];
      const packets: string[] = [];
      const errors: string[] = [];
      parser.on('packet', (p: mqttPacket.Packet) => packets.push(p.cmd));
      parser.on('error', (e: Error) => errors.push(e.message));
      return { parser, packets, errors };
    };
    const publish = (size: number) => mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(size), qos: 0, retain: false, dup: false });

    const big = make();
    // fixed header, the two Remaining Length bytes of 1003, and one byte of the body
    (big.parser as unknown as mqttPacket.Parser).parse(publish(1000).subarray(0, 4));
    assert.deepEqual(seen, [1003]);
    assert.deepEqual(big.errors, ['too big']);
    assert.deepEqual(big.packets, []);

    const small = make();
    (small.parser as unknown as mqttPacket.Parser).parse(Buffer.concat([publish(10), publish(20)]));
    assert.deepEqual(seen, [1003, 13, 23]);
    assert.deepEqual(small.packets, ['publish', 'publish']);
    assert.deepEqual(small.errors, []);
  });

  test("the packet object a 'packet' listener changes is the one later listeners get: a prepended listener can lower a SUBSCRIBE's qos (core/internals/mqtt-packet.ts limitSubscribeQos)", () => {
    const parser = mqttPacket.parser();
    const later: number[] = [];
    parser.on('packet', (p) => later.push(...(p as mqttPacket.ISubscribePacket).subscriptions.map((s) => s.qos)));
    parser.prependListener('packet', (p: mqttPacket.Packet) => {
      for (const s of (p as mqttPacket.ISubscribePacket).subscriptions) if (s.qos > 1) s.qos = 1 as mqttPacket.QoS;
    });
    parser.parse(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 2 }, { topic: 'b', qos: 0 }] }));
    assert.deepEqual(later, [1, 0]);
  });

  test('writeToStream corks a stream that has cork() and uncorks it on the next tick, and skips both when cork is hidden (core/internals/mqtt-packet.ts hideCorkFromPacketWriter)', async () => {
    const packet = { cmd: 'publish' as const, topic: 'a/b', payload: Buffer.from('x'), qos: 0 as const, retain: false, dup: false };
    const calls: string[] = [];
    const stream = {
      write: (chunk: Buffer) => (calls.push(`write ${chunk.length}`), true),
      cork: () => void calls.push('cork'),
      uncork: () => void calls.push('uncork'),
    };
    mqttPacket.writeToStream(packet, stream as never);
    assert.equal(calls[0], 'cork');
    assert.ok(!calls.includes('uncork'), 'uncorked synchronously');
    await new Promise<void>((resolve) => process.nextTick(resolve));
    assert.equal(calls.at(-1), 'uncork');

    calls.length = 0;
    (stream as { cork?: unknown }).cork = undefined; // what hideCorkFromPacketWriter does
    mqttPacket.writeToStream(packet, stream as never);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    assert.ok(calls.length > 0 && calls.every((c) => c.startsWith('write')), calls.join(', '));
  });
});

// mqtt-packet-debug.ts is checked in child processes: this one loaded mqtt-packet above, and
// the stub only works when it loads mqtt-packet first.
const root = path.resolve(import.meta.dirname, '../..');
const tsxLoader = import.meta.resolve('tsx');

/**
 * Runs a child that loads Tern's process entry module (server/node.ts: everything main.ts runs,
 * without running it) unless `tern` is false, then turns every mqtt-packet namespace on through
 * the real debug (debug.enable reaches every real instance, not a no-op), and parses and writes a
 * packet with aedes' copy of mqtt-packet. debug writes its lines to stderr.
 */
async function debugChild(opts: { tern: boolean; debugEnv?: string }): Promise<{ state: unknown; stderr: string }> {
  const script = `
    import { createRequire } from 'node:module';
    import { PassThrough } from 'node:stream';
    let state = null;
    if (${opts.tern}) {
      await import(${JSON.stringify(pathToFileURL(path.join(root, 'server/node.ts')).href)});
      state = (await import(${JSON.stringify(pathToFileURL(path.join(root, 'server/broker/core/internals/mqtt-packet-debug.ts')).href)})).mqttPacketDebug;
    }
    const fromAedes = createRequire(createRequire(${JSON.stringify(path.join(root, 'package.json'))}).resolve('aedes'));
    const mqttPacket = fromAedes('mqtt-packet');
    createRequire(fromAedes.resolve('mqtt-packet'))('debug').enable('mqtt-packet:*');
    mqttPacket.parser().parse(mqttPacket.generate({ cmd: 'pingreq' }));
    mqttPacket.writeToStream({ cmd: 'pingresp' }, new PassThrough());
    process.stdout.write(JSON.stringify(state));
  `;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DEBUG;
  if (opts.debugEnv !== undefined) env.DEBUG = opts.debugEnv;
  const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', tsxLoader, '--input-type=module', '-e', script], { cwd: root, env });
  return { state: JSON.parse(stdout), stderr };
}

describe('debug in mqtt-packet (core/internals/mqtt-packet-debug.ts)', () => {
  test("without Tern, mqtt-packet's parser and writer log through debug instances that debug.enable turns on (what the check below relies on)", async () => {
    const { stderr } = await debugChild({ tern: false });
    assert.match(stderr, /mqtt-packet:parser/);
    assert.match(stderr, /mqtt-packet:writeToStream/);
  });

  test('with DEBUG unset, loading Tern gives mqtt-packet:parser and :writeToStream the no-op: nothing turns them on later', async () => {
    const { state, stderr } = await debugChild({ tern: true });
    assert.deepEqual(state, {
      outcome: 'quiet',
      namespaces: [
        { namespace: 'mqtt-packet:parser', quiet: true },
        { namespace: 'mqtt-packet:writeToStream', quiet: true },
      ],
    });
    assert.doesNotMatch(stderr, /mqtt-packet:/);
  });

  test('with DEBUG=mqtt-packet:*, mqtt-packet gets the real debug and logs as it does without Tern', async () => {
    const { state, stderr } = await debugChild({ tern: true, debugEnv: 'mqtt-packet:*' });
    assert.deepEqual((state as { namespaces: unknown[] }).namespaces, [
      { namespace: 'mqtt-packet:parser', quiet: false },
      { namespace: 'mqtt-packet:writeToStream', quiet: false },
    ]);
    assert.match(stderr, /mqtt-packet:parser/);
    assert.match(stderr, /mqtt-packet:writeToStream/);
  });
});

// ---- mqemitter ----------------------------------------------------------------------------------

interface EmitterInternals {
  _matcher: { match(topic: string): unknown[] };
  _do(message: unknown, callback: (err?: Error) => void): unknown;
  length: number;
}

describe('mqemitter', () => {
  test('an instance keeps its listeners in _matcher, whose match(topic) lists those of matching subscriptions, empty levels included (core/internals/mqemitter.ts hasLiveSubscriber)', async () => {
    const mq = mqemitter({ matchEmptyLevels: true });
    const internals = mq as unknown as EmitterInternals;
    const fn = (_m: unknown, cb: () => void) => cb();
    mq.on('a/+/c', fn);
    assert.deepEqual(internals._matcher.match('a/b/c'), [fn]);
    assert.deepEqual(internals._matcher.match('a//c'), [fn]);
    assert.deepEqual(internals._matcher.match('a/b'), []);
    await new Promise<void>((resolve) => mq.removeListener('a/+/c', fn, () => resolve()));
    assert.deepEqual(internals._matcher.match('a/b/c'), []);
  });

  test("_matcher is a qlobber whose _trie maps each filter's words to Maps, level by level, '/' ending a filter, with '+' and '#' as words of their own (core/internals/mqemitter.ts mayHaveLiveSubscriberUnder)", () => {
    const mq = mqemitter({ matchEmptyLevels: true });
    const m = (mq as unknown as { _matcher: { _trie: Map<string, unknown>; _separator: string; _wildcard_one: string; _wildcard_some: string } })._matcher;
    assert.deepEqual([m._separator, m._wildcard_one, m._wildcard_some], ['/', '+', '#']);
    const fn = (_m: unknown, cb: () => void) => cb();
    mq.on('$SYS/+/heartbeat', fn);
    mq.on('a/#', fn);
    const sys = m._trie.get('$SYS') as Map<string, unknown>;
    assert.ok(m._trie instanceof Map && sys instanceof Map);
    const plus = sys.get('+') as Map<string, unknown>;
    assert.deepEqual([...plus.keys()], ['heartbeat']);
    assert.deepEqual([...(plus.get('heartbeat') as Map<string, unknown>).keys()], ['/']);
    assert.ok((m._trie.get('a') as Map<string, unknown>).has('#'));
  });

  test('mayHaveLiveSubscriberUnder is false only where no subscription matches any topic below the prefix, and true wherever match() finds one (core/internals/mqemitter.ts)', () => {
    const mq = mqemitter({ matchEmptyLevels: true });
    const matcher = (mq as unknown as EmitterInternals)._matcher;
    const fn = (_m: unknown, cb: () => void) => cb();
    const filters = ['$SYS/+/heartbeat', '$SYS/brokers/n1/clients/c1/connected', 'x/+/y/#', 'p/q', '+/z/+'];
    for (const f of filters) mq.on(f, fn);
    const topics = ['$SYS/b/heartbeat', '$SYS/brokers/n1/clients/c1/connected', 'x/1/y', 'x/1/y/2/3', 'p/q', 'k/z/v', '$SYS/brokers/n2/clients/c1/connected'];
    for (const t of topics) {
      const words = t.split('/');
      if (matcher.match(t).length === 0) continue;
      for (let n = 0; n < words.length; n++) assert.ok(mayHaveLiveSubscriberUnder(mq, words.slice(0, n)), `${t} under ${words.slice(0, n).join('/')}`);
    }
    assert.equal(mayHaveLiveSubscriberUnder(mq, ['$SYS', 'brokers', 'n2', 'clients']), false);
    assert.equal(mayHaveLiveSubscriberUnder(mq, ['$SYS', 'brokers', 'n1', 'clients']), true);
    assert.equal(mayHaveLiveSubscriberUnder(mq, ['p', 'q']), false, "'p/q' matches p/q only, nothing below it");
    assert.equal(mayHaveLiveSubscriberUnder(mq, ['k', 'z', 'v']), false, "'+/z/+' ends at the third level");
    mq.on('#', fn);
    assert.equal(mayHaveLiveSubscriberUnder(mq, ['$SYS', 'brokers', 'n2', 'clients']), true, '# is a live subscription matcher.match() returns for $ topics too');
  });

  test('_do(message, callback) starts every delivery; beyond `concurrency` messages queue (length) and each completion starts the next inside itself, nesting (core/internals/mqemitter.ts createMessageRouter bounds that nesting)', () => {
    const mq = mqemitter({ concurrency: 1 });
    const internals = mq as unknown as EmitterInternals;
    const start = internals._do;
    let depth = 0;
    let deepest = 0;
    const started: unknown[] = [];
    // on the instance, as core/internals/mqemitter.ts does
    internals._do = function (message, callback) {
      started.push((message as { n: number }).n);
      depth++;
      deepest = Math.max(deepest, depth);
      try {
        return start.call(mq, message, callback);
      } finally {
        depth--;
      }
    };
    let hold: (() => void) | undefined;
    mq.on('q', (m, cb) => {
      if ((m as unknown as { n: number }).n === 0) hold = cb; // the first delivery completes later; the queued ones at once
      else cb();
    });
    const done: number[] = [];
    for (let n = 0; n < 5; n++) mq.emit({ topic: 'q', n }, () => done.push(n));
    assert.deepEqual(started, [0]);
    assert.equal(internals.length, 4);
    hold!();
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.deepEqual(done, [0, 1, 2, 3, 4]);
    assert.equal(internals.length, 0);
    assert.equal(deepest, 4, 'the four queued messages drained on one stack');
  });

  test('the queue beyond `concurrency` is _messageQueue and _messageCallbacks, used through push, shift and length only, and mq.length is its length (core/internals/mqemitter.ts createMessageRouter swaps in Fifos)', () => {
    const mq = mqemitter({ concurrency: 1 });
    const internals = mq as unknown as EmitterInternals & Record<'_messageQueue' | '_messageCallbacks', unknown>;
    assert.ok(Array.isArray(internals._messageQueue) && Array.isArray(internals._messageCallbacks), 'two arrays of their own');
    const used = new Set<string>();
    // array-backed stand-ins that record every property mqemitter reads on them
    const watched = (name: string) =>
      new Proxy([] as unknown[], {
        get(target, key, receiver) {
          if (typeof key === 'string') used.add(`${name}.${key}`);
          const v = Reflect.get(target, key, receiver) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    internals._messageQueue = watched('queue');
    internals._messageCallbacks = watched('callbacks');
    let hold: (() => void) | undefined;
    const got: number[] = [];
    mq.on('q', (m, cb) => {
      got.push((m as unknown as { n: number }).n);
      if (hold === undefined) hold = cb;
      else cb();
    });
    const done: number[] = [];
    for (let n = 0; n < 4; n++) mq.emit({ topic: 'q', n }, () => done.push(n));
    assert.equal(internals.length, 3, 'three queued behind the first');
    hold!();
    assert.deepEqual(got, [0, 1, 2, 3]);
    assert.deepEqual(done, [0, 1, 2, 3]);
    assert.deepEqual([...used].sort(), ['callbacks.push', 'callbacks.shift', 'queue.length', 'queue.push', 'queue.shift']);
  });
});

// ---- aedes (with aedes-packet and aedes-persistence) ----------------------------------------------

interface ClientInternals {
  id: string;
  clean: boolean;
  broker: unknown;
  conn: net.Socket;
  _parser: ParserInternals & { client: unknown };
  _connectTimer: NodeJS.Timeout | null;
  subscriptions: Record<string, { qos: number } | undefined>;
  emit(event: 'error', err: Error): boolean;
}

type PublishFn = (packet: mqttPacket.IPublishPacket, client: unknown, done?: unknown) => void;

describe('aedes', () => {
  const mq = mqemitter({ concurrency: 100, matchEmptyLevels: true });
  // aedes' default persistence, watched where aedes hands it a client's message
  const memory = require('aedes-persistence') as () => Record<string, (...args: unknown[]) => Promise<unknown>>;
  const persistence = memory();
  const enqueued: Array<{ topic: string; clientId: unknown }> = [];
  const retained: Array<{ topic: string; clientId: unknown }> = [];
  const enqueue = persistence.outgoingEnqueueCombi!;
  persistence.outgoingEnqueueCombi = function (subs, packet) {
    const p = packet as { topic: string; clientId?: unknown };
    enqueued.push({ topic: p.topic, clientId: p.clientId });
    return enqueue.call(this, subs, packet);
  };
  const storeRetained = persistence.storeRetained!;
  persistence.storeRetained = function (packet) {
    const p = packet as { topic: string; clientId?: unknown };
    retained.push({ topic: p.topic, clientId: p.clientId });
    return storeRetained.call(this, packet);
  };

  const MARK = Symbol('marked in authorizePublish');
  let aedes: Aedes;
  let server: net.Server;
  let port: number;
  const handled: ClientInternals[] = [];
  const published: Array<{ packet: mqttPacket.IPublishPacket; args: number; client: unknown; done: unknown; marked: boolean }> = [];
  let holdPublish = (_p: mqttPacket.IPublishPacket) => false;
  const steer = new Set<string>();

  before(async () => {
    aedes = await Aedes.createBroker({
      mq,
      persistence,
      connectTimeout: 30_000,
      authorizePublish(client, packet, done) {
        (packet as unknown as Record<symbol, boolean>)[MARK] = true;
        // what core/broker.ts does so the persistence sees the publisher
        if (client) (packet as { clientId?: string }).clientId = client.id;
        done(null);
      },
      preConnect(_client, packet, done) {
        if (steer.has(packet.clientId)) packet.protocolVersion = 0 as never;
        done(null, true);
      },
    });
    // the wrapper core/internals/aedes.ts wrapPublish puts on the instance
    const original = aedes.publish.bind(aedes) as unknown as PublishFn;
    (aedes as unknown as { publish: PublishFn }).publish = function (packet, client, done) {
      const args = typeof client === 'function' ? 2 : 3;
      published.push({ packet, args, client, done, marked: (packet as unknown as Record<symbol, boolean>)[MARK] === true });
      if (args === 3 && holdPublish(packet)) return; // never routed, never completed
      return original(packet, client, done);
    };
    server = net.createServer((socket) => handled.push(aedes.handle(socket) as unknown as ClientInternals));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    server.close();
  });

  /** a raw connection and the aedes Client handle() made for it */
  async function accepted(): Promise<{ raw: RawPeer; client: ClientInternals }> {
    const before = handled.length;
    const accept = once(server, 'connection');
    const raw = await openRaw(port);
    await accept;
    assert.equal(handled.length, before + 1);
    return { raw, client: handled[before]! };
  }

  async function connected(clientId: string, clean = true): Promise<{ raw: RawPeer; client: ClientInternals }> {
    const c = await accepted();
    c.raw.sendPacket({ cmd: 'connect', clientId, protocolId: 'MQTT', protocolVersion: 4, clean, keepalive: 60 });
    const ack = (await c.raw.next((p) => p.cmd === 'connack', 'CONNACK')) as mqttPacket.IConnackPacket;
    assert.equal(ack.returnCode, 0);
    return c;
  }

  test('handle(stream) returns the Client: its _parser is an mqtt-packet Parser (same package copy) pointing back at it, and a CONNECT timer is pending in _connectTimer (core/internals/aedes.ts clientParser; core/internals/aedes-client.ts; core/internals/mqtt-packet.ts)', async () => {
    const { raw, client } = await accepted();
    try {
      assert.equal(Object.getPrototypeOf(client._parser), Object.getPrototypeOf(mqttPacket.parser()), 'aedes parses with the mqtt-packet Tern patches');
      assert.deepEqual(client._parser._states, ['_parseHeader', '_parseLength', '_parsePayload', '_newPacket']);
      assert.equal(client._parser.client, client);
      assert.equal(client.broker, aedes);
      assert.equal(typeof client._connectTimer?.refresh, 'function', '_connectTimer is a Timeout');
    } finally {
      raw.destroy();
    }
  });

  test('CONNECT clears whatever timer _connectTimer holds then (so a replacement is cleared too); an error emitted on the client closes its connection (core/internals/aedes-client.ts arms _connectTimer with the zone idle_timeout)', async () => {
    const a = await accepted();
    clearTimeout(a.client._connectTimer!);
    const replacement = setTimeout(() => assert.fail('the replaced CONNECT timer fired'), 60_000);
    a.client._connectTimer = replacement;
    a.raw.sendPacket({ cmd: 'connect', clientId: 'timer', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
    await a.raw.next((p) => p.cmd === 'connack', 'CONNACK');
    assert.equal(a.client._connectTimer, null);
    clearTimeout(replacement);
    a.raw.destroy();

    const b = await accepted();
    b.client.emit('error', new Error('connect did not arrive in time (idle_timeout)'));
    await b.raw.whenClosed();
  });

  test('clients maps the id of each connected client to its Client, clean as the CONNECT said (session/sessions.ts takeover mark, control.ts sessions.persistent.count)', async () => {
    const { raw, client } = await connected('registered', false);
    try {
      const clients = (aedes as unknown as { clients: Record<string, unknown> }).clients;
      assert.equal(clients.registered, client);
      assert.equal(client.id, 'registered');
      assert.equal(client.clean, false);
    } finally {
      raw.destroy();
    }
  });

  test("a live subscription is a listener in the mq given as an option, found by mq._matcher.match, gone after UNSUBACK; the Client lists it in subscriptions by filter (core/internals/aedes.ts and mqemitter.ts hasLiveSubscriber; session/sessions.ts, session/session-record.ts)", async () => {
    const { raw, client } = await connected('live');
    try {
      assert.equal((aedes as unknown as { mq: unknown }).mq, mq);
      const matcher = (mq as unknown as EmitterInternals)._matcher;
      assert.equal(matcher.match('live/x').length, 0);
      raw.sendPacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'live/+', qos: 0 }] });
      await raw.next((p) => p.cmd === 'suback', 'SUBACK');
      assert.equal(matcher.match('live/x').length, 1);
      assert.deepEqual(Object.keys(client.subscriptions), ['live/+']);
      assert.equal(client.subscriptions['live/+']!.qos, 0);
      raw.sendPacket({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['live/+'] });
      await raw.next((p) => p.cmd === 'unsuback', 'UNSUBACK');
      assert.equal(matcher.match('live/x').length, 0);
    } finally {
      raw.destroy();
    }
  });

  test("the PUBLISH handler calls the instance's publish(packet, client, done) with authorizePublish's packet object, a QoS 1 one after writing its PUBACK; aedes' own publishes pass (packet, done) (core/internals/aedes.ts wrapPublish)", async () => {
    const { raw, client } = await connected('publisher');
    try {
      // registering the client published $SYS/<id>/new/clients through the wrapper
      const own = published.find((p) => p.packet.topic.endsWith('/new/clients') && p.packet.payload.toString() === 'publisher');
      assert.ok(own, 'aedes announced the client through publish()');
      assert.equal(own.args, 2);
      assert.equal(typeof own.client, 'function');

      holdPublish = (p) => p.topic === 'held';
      raw.sendPacket({ cmd: 'publish', topic: 'held', payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false });
      // the wrapper never completes this publish, yet the PUBACK arrives: it was written first
      const puback = (await raw.next((p) => p.cmd === 'puback', 'PUBACK')) as mqttPacket.IPubackPacket;
      assert.equal(puback.messageId, 7);
      const call = published.find((p) => p.packet.topic === 'held');
      assert.ok(call, 'publish() was called for the client PUBLISH');
      assert.equal(call.args, 3);
      assert.equal(call.client, client);
      assert.equal(typeof call.done, 'function');
      assert.equal(call.marked, true, 'the packet authorizePublish saw');
    } finally {
      holdPublish = () => false;
      raw.destroy();
    }
  });

  test('aedes-packet keeps the clientId set on the PUBLISH in authorizePublish, so the persistence sees the publisher when storing the retained copy and queueing (core/broker.ts authorizePublish, persistence from_clientid)', async () => {
    const Packet = require('aedes-packet') as new (original: object, broker?: { id: string; counter: number }) => { clientId?: string };
    assert.equal(new Packet({ clientId: 'p', topic: 't' }, { id: 'b', counter: 0 }).clientId, 'p');
    assert.equal(Object.hasOwn(new Packet({ topic: 't' }, { id: 'b', counter: 0 }), 'clientId'), false);

    const { raw } = await connected('stamped');
    try {
      // aedes emits 'publish' after storing the retained copy and queueing for offline sessions
      const routed = new Promise<void>((resolve) => {
        const onPublish = (packet: { topic: string }) => {
          if (packet.topic !== 'stamp/r') return;
          aedes.off('publish', onPublish);
          resolve();
        };
        aedes.on('publish', onPublish);
      });
      raw.sendPacket({ cmd: 'publish', topic: 'stamp/r', payload: Buffer.from('x'), qos: 1, messageId: 3, retain: true, dup: false });
      await routed;
      assert.deepEqual(retained.filter((r) => r.topic === 'stamp/r'), [{ topic: 'stamp/r', clientId: 'stamped' }]);
      assert.deepEqual(enqueued.filter((e) => e.topic === 'stamp/r'), [{ topic: 'stamp/r', clientId: 'stamped' }]);
    } finally {
      raw.destroy();
    }
  });

  test('_disconnected is true on a client that ended with DISCONNECT, not on one whose connection just closed (core/internals/aedes.ts sentDisconnect)', async () => {
    const polite = await connected('polite');
    polite.raw.sendPacket({ cmd: 'disconnect' });
    await polite.raw.whenClosed();
    assert.equal((polite.client as unknown as { _disconnected?: boolean })._disconnected, true);

    const dropped = await connected('dropped');
    const gone = new Promise<void>((resolve) => {
      const onGone = (client: { id: string }) => {
        if (client.id !== 'dropped') return;
        aedes.off('clientDisconnect', onGone);
        resolve();
      };
      aedes.on('clientDisconnect', onGone);
    });
    dropped.raw.destroy();
    await gone;
    assert.notEqual((dropped.client as unknown as { _disconnected?: boolean })._disconnected, true);
  });

  test('a CONNECT whose protocolVersion preConnect set to 0 gets CONNACK 1 from aedes (core/broker.ts preConnect)', async () => {
    steer.add('steered');
    const c = await accepted();
    c.raw.sendPacket({ cmd: 'connect', clientId: 'steered', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
    const ack = (await c.raw.next((p) => p.cmd === 'connack', 'CONNACK')) as mqttPacket.IConnackPacket;
    assert.equal(ack.returnCode, 1);
    await c.raw.whenClosed();
  });
});

// ---- qlobber and node:net -------------------------------------------------------------------------

test("qlobber/aedes/qlobber-sub: add, match (the subscriptions' values), remove and subscriptionsCount (persistence/persistence.ts)", () => {
  const QlobberSub = require('qlobber/aedes/qlobber-sub') as new (opts: object) => {
    subscriptionsCount: number;
    add(topic: string, value: { clientId: string; topic: string; qos: number }): void;
    remove(topic: string, value: { clientId: string; topic: string }): void;
    match(topic: string): Array<{ clientId: string; topic: string; qos: number }>;
  };
  const trie = new QlobberSub({ wildcard_one: '+', wildcard_some: '#', separator: '/' });
  trie.add('a/#', { clientId: 'c1', topic: 'a/#', qos: 1 });
  trie.add('a/+', { clientId: 'c2', topic: 'a/+', qos: 2 });
  trie.add('a/#', { clientId: 'c1', topic: 'a/#', qos: 2 }); // same client and filter: replaced
  assert.equal(trie.subscriptionsCount, 2);
  const byClient = (subs: Array<{ clientId: string; qos: number }>) => subs.map((s) => [s.clientId, s.qos]).sort();
  assert.deepEqual(byClient(trie.match('a/b')), [['c1', 2], ['c2', 2]]);
  trie.remove('a/#', { clientId: 'c1', topic: 'a/#' });
  assert.equal(trie.subscriptionsCount, 1);
  assert.deepEqual(byClient(trie.match('a/b')), [['c2', 2]]);
});

test("a listening net.Server's _handle has setNoDelay, which succeeds on Linux (transport/listeners.ts noDelayOnListener)", async () => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const handle = (server as unknown as { _handle?: { setNoDelay?: (on: boolean) => number } })._handle;
    assert.equal(typeof handle?.setNoDelay, 'function');
    const result = handle!.setNoDelay!(true);
    // Tern uses it only on Linux, where accept() copies the option to each connection
    if (process.platform === 'linux') assert.equal(result, 0);
  } finally {
    server.close();
  }
});

test("net and tls sockets write through Writable.prototype.write, the method the write batcher replaces per socket (transport/write-batcher.ts)", async () => {
  const { Writable } = await import('node:stream');
  const tls = await import('node:tls');
  assert.equal(new net.Socket().write, Writable.prototype.write);
  assert.equal(new tls.TLSSocket(new net.Socket()).write, Writable.prototype.write);
});
