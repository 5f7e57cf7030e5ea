// Tern builds aedes' per-connection Client itself (server/broker/core/internals/aedes-client.ts).
// The first group pins what that relies on inside the installed aedes, so an upgrade that changes
// it fails here; the second checks the lean client through a running Tern.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import { AedesClientClass, createClient, sweptClients } from '../../server/broker/core/internals/aedes-client.ts';
import mqttPacket from 'mqtt-packet';
import { startTestTern, testConfig, connect, nextMessages } from '../helpers/tern.ts';
import type { Tern } from '../../server/tern.ts';
import { openRaw } from '../helpers/raw.ts';

const aedesDir = path.dirname(createRequire(import.meta.url).resolve('aedes'));

/** what the lean client adds to aedes' fields: its lazily made parts' slots, Tern's record, the state aedes adds later */
const TERN_FIELDS = ['tern', '_subs', '_dups', '_inflight', '_drains', '_deliver0', '_deliverQoS', '_paused', '_onDrainBound', '_seen'];
/** aedes' fields the lean client makes on first use, through accessors */
const ACCESSORS = ['subscriptions', 'duplicates', '_inboundInflight', '_pendingDrains', 'deliver0', 'deliverQoS'];
/** aedes' client is an EventEmitter through its constructor's listeners; the lean one only when someone listens */
const EMITTER_FIELDS = ['_events', '_eventsCount'];

describe("aedes' Client, as the lean client rebuilds it", () => {
  let aedes: Aedes;
  before(async () => {
    aedes = await Aedes.createBroker();
  });
  after(() => new Promise<void>((resolve) => aedes.close(() => resolve())));

  test("aedes' constructor sets exactly the fields the lean client sets or makes on first use", () => {
    const real = aedes.handle(new PassThrough() as never) as unknown as { _connectTimer: NodeJS.Timeout };
    clearTimeout(real._connectTimer);
    const lean = createClient(aedes as never, new PassThrough()) as unknown as { _connectTimer: NodeJS.Timeout };
    clearTimeout(lean._connectTimer);
    const expected = Object.keys(lean)
      .filter((k) => !TERN_FIELDS.includes(k))
      .concat(ACCESSORS, EMITTER_FIELDS)
      .sort();
    assert.deepEqual(Object.keys(real).sort(), expected);
  });

  test("the lean client's prototype chain runs through aedes' Client.prototype, whose methods are these", () => {
    assert.deepEqual(Object.getOwnPropertyNames(AedesClientClass.prototype).sort(), [
      '_handleDrain', '_handleDrainTimeout', '_onError', 'close', 'constructor', 'emptyOutgoingQueue', 'pause', 'publish', 'resume', 'subscribe', 'unsubscribe', 'waitForDrain',
    ]);
    const lean = createClient(aedes as never, new PassThrough()) as unknown as { _connectTimer: NodeJS.Timeout };
    clearTimeout(lean._connectTimer);
    assert.ok(lean instanceof AedesClientClass);
    assert.equal(aedes.handle(new PassThrough() as never) instanceof AedesClientClass, true, 'AedesClientClass is the class aedes.handle() instantiates');
  });

  test("aedes emits only 'error' and 'connected' on a client (the two the lean client's emit() handles without an EventEmitter table)", () => {
    const names = new Set<string>();
    const dir = path.join(aedesDir, 'lib');
    const files = [...fs.readdirSync(path.join(dir, 'handlers')).map((f) => path.join(dir, 'handlers', f)), path.join(dir, 'write.js'), path.join(dir, 'qos-packet.js'), path.join(aedesDir, 'aedes.js')];
    for (const f of files) for (const m of fs.readFileSync(f, 'utf8').matchAll(/client\.emit\('([^']+)'/g)) names.add(m[1]!);
    assert.deepEqual([...names].sort(), ['connected', 'error']);
    // and the constructor's own listeners on the client are for those two
    const src = fs.readFileSync(path.join(dir, 'client.js'), 'utf8');
    const own = [...src.matchAll(/this\.(?:on|once)\('([^']+)'/g)].map((m) => m[1]).sort();
    assert.deepEqual(own, ['connected', 'error']);
  });

  test("aedes' handlers read a client's parser, timers and flags by the names the lean client sets", () => {
    const dir = path.join(aedesDir, 'lib');
    const used = new Set<string>();
    for (const f of fs.readdirSync(path.join(dir, 'handlers'))) {
      for (const m of fs.readFileSync(path.join(dir, 'handlers', f), 'utf8').matchAll(/client\.(_[A-Za-z]+)/g)) used.add(m[1]!);
    }
    const lean = createClient(aedes as never, new PassThrough()) as unknown as Record<string, unknown> & { _connectTimer: NodeJS.Timeout };
    clearTimeout(lean._connectTimer);
    for (const name of used) assert.ok(name in lean, `aedes' handlers use client.${name}`);
  });

  test("aedes' keepalive is a Timeout per client, set in the CONNECT handler, refreshed per packet and cleared on close (what the lean client's sweep replaces)", () => {
    const read = (rel: string) => fs.readFileSync(path.join(aedesDir, rel), 'utf8');
    const connect = read('lib/handlers/connect.js');
    assert.match(connect, /client\._keepaliveInterval = \(this\.packet\.keepalive \* 1500\) \+ 1/);
    assert.match(connect, /client\._keepaliveTimer = setTimeout\(keepaliveTimeout, client\._keepaliveInterval\)/);
    assert.match(connect, /function keepaliveTimeout \(\) \{\s*client\.broker\.emit\('keepaliveTimeout', client\)\s*client\.emit\('error', new Error\('keep alive timeout'\)\)/);
    // setKeepAlive runs before the client is told 'connected', where the lean client adopts it
    assert.ok(connect.indexOf('setKeepAlive,') < connect.indexOf("this.client.emit('connected')"));
    assert.match(read('lib/handlers/index.js'), /if \(client\._keepaliveInterval > 0\) \{\s*client\._keepaliveTimer\.refresh\(\)/);
    assert.match(read('lib/client.js'), /if \(this\._keepaliveTimer\) \{\s*clearTimeout\(this\._keepaliveTimer\)/);
    // and nothing else in aedes touches the timer
    const uses = ['lib/handlers/connect.js', 'lib/handlers/index.js', 'lib/client.js', 'aedes.js'].flatMap((f) => [...read(f).matchAll(/_keepaliveTimer\b[^\n]*/g)].map((m) => m[0]));
    assert.equal(uses.length, 6, uses.join('\n'));
    // clearTimeout ignores an object that is not a timer (the lean client, once it is its own)
    assert.doesNotThrow(() => clearTimeout({ refresh() {} } as unknown as NodeJS.Timeout));
  });
});

// ---- the shapes V8 gives what every idle connection keeps (BENCHMARKS.md issue 9, ninth pass) ----

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');

describe("a lean client's own function and its parser's listener table under tsx (fast properties, not dictionaries)", () => {
  test('both have fast properties, where a bound function declaration has not (what tsx\'s keepNames does)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', '--import', tsxLoader, path.join(root, 'test/fixtures/v8/lean-client-shapes.ts')], { cwd: root });
    const shapes = JSON.parse(stdout) as Record<string, boolean>;
    // the control first: if tsx stops renaming functions, bind's copy is fast again and this
    // fails, to say the bound method (and this test's reason) is no longer needed
    assert.equal(shapes.declaredBound, false, 'under tsx, a function declaration bound is a dictionary-mode copy');
    assert.equal(shapes.nextBatch, true, '_nextBatch is a bound method (~0.3 KB less per connection)');
    assert.equal(shapes.parserListeners, true, "the parser's _events is a compact table (~0.14 KB less per connection)");
  });
});

describe('the lean client in Tern', () => {
  let tern: Tern;
  let url: string;
  before(async () => {
    tern = await startTestTern();
    url = `mqtt://127.0.0.1:${tern.ports.tcp.external}`;
  });
  after(() => tern.close());

  function clientOf(id: string): Record<string, unknown> {
    const c = (tern.aedes as unknown as { clients: Record<string, Record<string, unknown>> }).clients[id];
    assert.ok(c, `client ${id} is registered`);
    return c;
  }

  test('an idle connection holds one function of its own and none of the parts it has not used, also once its subscriptions are counted and listed', async () => {
    const idle = await connect(url, { clientId: 'lean-idle' });
    try {
      const c = clientOf('lean-idle');
      const ownFunctions = Object.keys(c).filter((k) => typeof c[k] === 'function' && k !== '_eos');
      assert.deepEqual(ownFunctions, ['_nextBatch']);
      for (const slot of ['_subs', '_dups', '_inflight', '_drains', '_deliver0', '_deliverQoS']) assert.equal(c[slot], null, slot);
      assert.equal(c._events, undefined, 'no EventEmitter table');
      // what reads every connection's subscriptions (the counts of $SYS and /stats, the client
      // views of the API) reads them without making the map
      tern.sessions.subscriptionCounts();
      assert.equal(tern.sessions.get('lean-idle')?.subscriptions_cnt, 0);
      assert.deepEqual(tern.sessions.subscriptions('lean-idle'), []);
      tern.sessions.list({}, { page: 1, limit: 100 });
      assert.equal(c._subs, null, 'still no subscription map');
    } finally {
      await idle.endAsync();
    }
  });

  test('a connected client is its own keepalive timer: aedes\' Timeout is gone, and packets within the keepalive keep it connected', async () => {
    const c = await connect(url, { clientId: 'lean-keepalive', keepalive: 1, reconnectPeriod: 0 });
    try {
      const lean = clientOf('lean-keepalive');
      assert.equal(lean._keepaliveTimer, lean, 'no Timeout of its own');
      assert.equal(lean._keepaliveInterval, 1501);
      // mqtt.js pings every keepalive (1 s); after four PINGRESPs (well past 1.5 s and the sweep's
      // two ticks) the client is still connected
      let pongs = 0;
      await new Promise<void>((resolve) => {
        c.on('packetreceive', (p) => {
          if (p.cmd === 'pingresp' && ++pongs === 4) resolve();
        });
      });
      assert.equal(c.connected, true);
      assert.equal(clientOf('lean-keepalive'), lean, 'the same connection');
    } finally {
      await c.endAsync();
    }
  });

  test('the keepalive sweep holds a client while it is connected, and lets it go when it closes', async () => {
    const before = sweptClients();
    const c = await connect(url, { clientId: 'lean-swept', keepalive: 30, reconnectPeriod: 0 });
    assert.equal(sweptClients(), before + 1);
    const lean = clientOf('lean-swept') as { conn: import('node:net').Socket };
    const closed = new Promise((resolve) => lean.conn.once('close', resolve));
    await c.endAsync();
    await closed;
    assert.equal(sweptClients(), before);
  });

  test('a subscription makes the map and the delivery function once, and the same function is unsubscribed', async () => {
    const sub = await connect(url, { clientId: 'lean-sub' });
    const pub = await connect(url, { clientId: 'lean-pub' });
    try {
      await sub.subscribeAsync('lean/+', { qos: 1 });
      const c = clientOf('lean-sub');
      assert.deepEqual(Object.keys(c._subs as object), ['lean/+']);
      const deliver = c._deliverQoS;
      assert.equal(typeof deliver, 'function');
      assert.equal(c.deliverQoS, deliver, 'the accessor hands the same function each time');
      await pub.publishAsync('lean/a', 'one', { qos: 1 });
      const [got] = await nextMessages(sub, 1);
      assert.equal(got!.payload, 'one');
      await sub.unsubscribeAsync('lean/+');
      await pub.publishAsync('lean/a', 'two', { qos: 1 });
      // 'two' went to no one: the next message this client gets is 'three', on a new subscription
      await sub.subscribeAsync('lean/other');
      await pub.publishAsync('lean/other', 'three', { qos: 1 });
      const [next] = await nextMessages(sub, 1);
      assert.equal(next!.payload, 'three');
    } finally {
      await sub.endAsync();
      await pub.endAsync();
    }
  });

  test('packets that arrive with the CONNECT, before its CONNACK, are handled after it', async () => {
    const raw = await openRaw(tern.ports.tcp.external!);
    try {
      // one write: CONNECT, SUBSCRIBE and PINGREQ in the same chunk
      const packets: mqttPacket.Packet[] = [
        { cmd: 'connect', clientId: 'lean-queued', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 },
        { cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'lean/q', qos: 0 }] },
        { cmd: 'pingreq' },
      ];
      raw.send(Buffer.concat(packets.map((p) => mqttPacket.generate(p))));
      await raw.next((p) => p.cmd === 'pingresp', 'PINGRESP');
      await raw.next((p) => p.cmd === 'suback', 'SUBACK');
      // as with aedes' own client: the queued packets are handled together, a SUBACK waits for its checks
      assert.equal(raw.packets[0]!.cmd, 'connack');
      assert.deepEqual(raw.packets.map((p) => p.cmd).sort(), ['connack', 'pingresp', 'suback']);
    } finally {
      raw.destroy();
    }
  });

  test('a connection that sends no CONNECT is closed after the zone idle_timeout', async () => {
    const t = await startTestTern(
      testConfig((c) => {
        c.zones.external!.idle_timeout = 200;
      }),
    );
    try {
      const raw = await openRaw(t.ports.tcp.external!);
      await raw.whenClosed();
    } finally {
      await t.close();
    }
  });
});
