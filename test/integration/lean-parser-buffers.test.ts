// core/internals/mqtt-packet.ts useLeanParserBuffers: mqtt-packet's Parser keeps its input in a
// plain BufferList instead of bl()'s Duplex stream. The first tests check what the replacement
// relies on in the installed mqtt-packet and bl (they fail when an upgrade changes it); the others
// check that Tern's broker installs it (first, while this process has not) and that the parser
// still parses with it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { IDLE_PACKET, PACKAGE_STATES, compactParserListeners, forgetConnectPacket, packageResetState, parseChunk, shareParserStates, useLeanParserBuffers } from '../../server/broker/core/internals/mqtt-packet.ts';
import { connect, endAll, startTestTern, tcpUrl } from '../helpers/tern.ts';

const fromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));
const BufferList = createRequire(fromMqttPacket.resolve('bl'))('./BufferList.js') as { prototype: Record<string, unknown> };

type ParserState = { packet: { length: number }; error: unknown; _list: unknown; _stateCounter: number; [k: string]: unknown };

describe('mqtt-packet Parser buffers (core/internals/mqtt-packet.ts useLeanParserBuffers)', () => {
  test("the package's _resetState sets exactly packet, error, _list and _stateCounter, _list being a bl() stream", () => {
    const state = {} as ParserState;
    packageResetState.call(state as never);
    assert.deepEqual(Object.keys(state).sort(), ['_list', '_stateCounter', 'error', 'packet']);
    assert.equal(state.packet.length, -1);
    assert.equal(state.error, null);
    assert.equal(state._stateCounter, 0);
    // what the replacement saves: a whole stream per parser
    assert.ok(state._list instanceof Duplex || typeof (state._list as { pipe?: unknown }).pipe === 'function');
  });

  test('every method the parser calls on _list is a BufferList method', () => {
    const source = readFileSync(fromMqttPacket.resolve('./parser.js'), 'utf8');
    const used = new Set([...source.matchAll(/this\._list\.(\w+)/g)].map((m) => m[1]!));
    assert.ok(used.has('append') && used.has('consume'), `parser.js uses ${[...used].join(', ')}`);
    used.delete('length'); // a field BufferList keeps
    for (const name of used) assert.equal(typeof BufferList.prototype[name], 'function', `BufferList.prototype.${name}`);
    // and the parser does not use _list as a stream anywhere
    assert.doesNotMatch(source, /this\._list\.(pipe|on|write|end|destroy)\b/);
  });

  test("Tern's broker installs it: a connected client's parser holds a plain BufferList", async () => {
    // not installed yet in this process (this test runs before the one that installs it itself)
    assert.equal(typeof ((mqttPacket.parser() as unknown as ParserState)._list as { pipe?: unknown }).pipe, 'function');
    const tern = await startTestTern();
    try {
      const client = await connect(tcpUrl(tern), { clientId: 'lean-broker' });
      try {
        const aedesClient = tern.aedes.clients['lean-broker'] as unknown as { _parser: ParserState };
        assert.ok(aedesClient, 'the client is connected');
        assert.equal(typeof (aedesClient._parser._list as { pipe?: unknown }).pipe, 'undefined');
        assert.ok(aedesClient._parser._list instanceof (BufferList as unknown as new () => object));
      } finally {
        await endAll(client);
      }
    } finally {
      await tern.close();
    }
  });

  test('with it, a parser keeps a plain BufferList and parses packets split across chunks, and after an error', () => {
    useLeanParserBuffers();
    useLeanParserBuffers(); // once: the second call changes nothing
    const parser = mqttPacket.parser() as unknown as import('node:events').EventEmitter & ParserState & { parse(b: Buffer): number };
    assert.equal(typeof (parser._list as { pipe?: unknown }).pipe, 'undefined');
    assert.ok(parser._list instanceof (BufferList as unknown as new () => object));
    const packets: mqttPacket.Packet[] = [];
    const errors: string[] = [];
    parser.on('packet', (p: mqttPacket.Packet) => packets.push(p));
    parser.on('error', (e: Error) => errors.push(e.message));
    const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'lean-1', keepalive: 30 });
    const publish = mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(300, 7), qos: 1, messageId: 42, retain: false, dup: false });
    const both = Buffer.concat([connect, publish]);
    for (const [a, b] of [[0, 1], [1, 5], [5, connect.length + 3], [connect.length + 3, both.length]] as const) parser.parse(both.subarray(a, b));
    assert.deepEqual(packets.map((p) => p.cmd), ['connect', 'publish']);
    assert.equal((packets[0] as mqttPacket.IConnectPacket).clientId, 'lean-1');
    const pub = packets[1] as mqttPacket.IPublishPacket;
    assert.equal(pub.topic, 'a/b');
    assert.equal(pub.messageId, 42);
    assert.deepEqual(pub.payload, Buffer.alloc(300, 7));
    // a bad first byte (reserved packet type 0) is an error; the next parse() starts afresh
    parser.parse(Buffer.from([0x00, 0x00]));
    assert.equal(errors.length, 1);
    parser.parse(mqttPacket.generate({ cmd: 'pingreq' }));
    assert.deepEqual(packets.map((p) => p.cmd), ['connect', 'publish', 'pingreq']);
    assert.equal(typeof (parser._list as { pipe?: unknown }).pipe, 'undefined');
  });
});

// core/internals/mqtt-packet.ts shareParserStates / forgetConnectPacket: what an idle parser keeps
describe('mqtt-packet Parser settings and states (shareParserStates, forgetConnectPacket)', () => {
  const source = readFileSync(fromMqttPacket.resolve('./parser.js'), 'utf8');

  test("the package gives each parser its own _states, with PACKAGE_STATES' names, and only indexes it", () => {
    const a = mqttPacket.parser() as unknown as ParserState;
    const b = mqttPacket.parser() as unknown as ParserState;
    assert.deepEqual(a._states, [...PACKAGE_STATES]);
    assert.notEqual(a._states, b._states, 'an array per parser: what sharing saves');
    // written only where parser() sets it: a shared array is never changed under another parser
    assert.equal([...source.matchAll(/this\._states\s*=[^=]/g)].length, 1);
    assert.doesNotMatch(source, /this\._states\.(push|splice|pop|shift|unshift|reverse|sort|fill)\b|this\._states\[[^\]]+\]\s*=[^=]/);
  });

  test('the package keeps the CONNECT packet as the settings, and reads only protocolVersion and bridgeMode of them', () => {
    // where settings is assigned: parser(opt) and the CONNECT parse
    const writes = [...source.matchAll(/this\.settings\s*=\s*([^\n]+)/g)].map((m) => m[1]!.trim());
    assert.deepEqual(writes, ['opt || {}', 'packet']);
    const reads = new Set([...source.matchAll(/this\.settings\.(\w+)/g)].map((m) => m[1]!));
    assert.deepEqual([...reads].sort(), ['bridgeMode', 'protocolVersion']);
    // nothing writes a field of settings (a shared, frozen object would refuse it)
    assert.doesNotMatch(source, /this\.settings\.\w+\s*=[^=]/);
    const p = mqttPacket.parser() as unknown as ParserState & { settings: unknown };
    const connect = mqttPacket.generate({ cmd: 'connect', clientId: 'pinned', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30 });
    let parsed: unknown;
    (p as unknown as import('node:events').EventEmitter).on('packet', (pk: unknown) => (parsed = pk));
    (p as unknown as { parse(b: Buffer): void }).parse(connect);
    assert.equal(p.settings, parsed, 'the CONNECT packet stays as the parser settings');
  });

  test('a parser made by the lean client, before any packet, shares PACKAGE_STATES and an empty frozen settings object', () => {
    const p = mqttPacket.parser() as unknown as ParserState & { settings: object };
    shareParserStates(p);
    assert.equal(p._states, PACKAGE_STATES);
    assert.ok(Object.isFrozen(p.settings) && Object.keys(p.settings).length === 0);
    const q = mqttPacket.parser() as unknown as ParserState & { settings: object };
    shareParserStates(q);
    assert.equal(q.settings, p.settings);
    // and it still parses a CONNECT, then forgets it
    let parsed: { clientId?: string } | undefined;
    (p as unknown as import('node:events').EventEmitter).on('packet', (pk: { clientId?: string }) => (parsed = pk));
    (p as unknown as { parse(b: Buffer): void }).parse(mqttPacket.generate({ cmd: 'connect', clientId: 'x', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0 }));
    assert.equal(parsed?.clientId, 'x');
    forgetConnectPacket(p);
    assert.deepEqual({ ...p.settings }, { protocolVersion: 4, bridgeMode: false });
  });

  test("a Tern client's parser shares its _states and, after CONNECT, a frozen settings object instead of the packet", async () => {
    const tern = await startTestTern();
    try {
      const a = await connect(tcpUrl(tern), { clientId: 'lean-settings-a', username: 'u', password: 'secret-password' });
      const b = await connect(tcpUrl(tern), { clientId: 'lean-settings-b' });
      try {
        type Parsed = ParserState & { settings: Record<string, unknown> };
        const pa = (tern.aedes.clients['lean-settings-a'] as unknown as { _parser: Parsed })._parser;
        const pb = (tern.aedes.clients['lean-settings-b'] as unknown as { _parser: Parsed })._parser;
        // one array for both (the package's names, or the size limiter's list when max_packet_size is set)
        assert.equal(pa._states, pb._states);
        assert.equal(pa.settings, pb.settings, 'one settings object for both');
        assert.ok(Object.isFrozen(pa.settings));
        assert.deepEqual({ ...pa.settings }, { protocolVersion: 4, bridgeMode: false });
        assert.equal(pa.settings.clientId, undefined, 'the CONNECT packet is gone');
        assert.equal(pa.settings.password, undefined);
        // and the connection still works both ways after it
        const got = new Promise<string>((resolve) => b.once('message', (_t, m) => resolve(m.toString())));
        await b.subscribeAsync('lean/settings', { qos: 1 });
        await a.publishAsync('lean/settings', 'after connect', { qos: 1 });
        assert.equal(await got, 'after connect');
      } finally {
        await endAll(a, b);
      }
    } finally {
      await tern.close();
    }
  });
});

// core/internals/mqtt-packet.ts parseChunk: an idle parser parks its next packet and its list's array
describe('a parser between reads (parseChunk)', () => {
  const source = readFileSync(fromMqttPacket.resolve('./parser.js'), 'utf8');
  type Chunked = ParserState & { parse(b: Buffer): number; _list: { length: number; _bufs: unknown[] } } & EventEmitter;

  test('the package makes the next packet as soon as one is emitted, and parse() starts from this.packet and this._list', () => {
    // what parking relies on: at state 0 with nothing buffered the parser's packet is a fresh one
    assert.match(source, /this\.emit\('packet', this\.packet\)[\s\S]{0,200}this\.packet = new Packet\(\)/);
    assert.match(source, /parse \(buf\) \{\s*if \(this\.error\) this\._resetState\(\)\s*this\._list\.append\(buf\)/);
    // and the BufferList keeps its chunks in the _bufs array, emptied by consume
    const bl = readFileSync(createRequire(fromMqttPacket.resolve('bl')).resolve('./BufferList.js'), 'utf8');
    assert.match(bl, /this\._bufs = \[\]/);
    assert.match(bl, /this\._bufs\.shift\(\)/);
  });

  test('a whole packet leaves the parser parked; a split one keeps its parts until it is complete', () => {
    useLeanParserBuffers();
    const parser = mqttPacket.parser() as unknown as Chunked;
    const cmds: string[] = [];
    parser.on('packet', (p: mqttPacket.Packet) => cmds.push(p.cmd));
    parseChunk(parser, mqttPacket.generate({ cmd: 'pingreq' }));
    assert.deepEqual(cmds, ['pingreq']);
    assert.equal(parser.packet, IDLE_PACKET, 'parked: the shared packet');
    assert.equal(parser._list._bufs.length, 0);
    const publish = mqttPacket.generate({ cmd: 'publish', topic: 't/split', payload: Buffer.alloc(50, 1), qos: 0, retain: false, dup: false });
    parseChunk(parser, publish.subarray(0, 3));
    assert.notEqual(parser.packet, IDLE_PACKET, 'mid-packet: its own packet');
    assert.ok(parser._list.length > 0, 'the partial bytes stay buffered');
    parseChunk(parser, publish.subarray(3));
    assert.deepEqual(cmds, ['pingreq', 'publish']);
    assert.equal(parser.packet, IDLE_PACKET);
    // two packets in one chunk, after being parked
    parseChunk(parser, Buffer.concat([mqttPacket.generate({ cmd: 'pingreq' }), publish]));
    assert.deepEqual(cmds, ['pingreq', 'publish', 'pingreq', 'publish']);
    // the shared packet refuses a write: a parse() that skipped parseChunk fails rather than sharing state
    assert.ok(Object.isFrozen(IDLE_PACKET));
    assert.throws(() => parser.parse(mqttPacket.generate({ cmd: 'pingreq' })), TypeError);
  });

  test("a Tern client's idle parser is parked, and the connection works after it", async () => {
    const tern = await startTestTern();
    try {
      const a = await connect(tcpUrl(tern), { clientId: 'parked-a' });
      const b = await connect(tcpUrl(tern), { clientId: 'parked-b' });
      try {
        const parserOf = (id: string) => (tern.aedes.clients[id] as unknown as { _parser: Chunked })._parser;
        assert.equal(parserOf('parked-a').packet, IDLE_PACKET);
        const got = new Promise<string>((resolve) => b.once('message', (_t, m) => resolve(m.toString())));
        await b.subscribeAsync('parked/t', { qos: 1 });
        await a.publishAsync('parked/t', Buffer.alloc(70_000, 97), { qos: 1 });
        assert.equal((await got).length, 70_000);
        assert.equal(parserOf('parked-a').packet, IDLE_PACKET);
        assert.equal(parserOf('parked-b').packet, IDLE_PACKET);
      } finally {
        await endAll(a, b);
      }
    } finally {
      await tern.close();
    }
  });
});

// core/internals/mqtt-packet.ts compactParserListeners
describe("a parser's listener table (compactParserListeners)", () => {
  test("Node's EventEmitter keeps listeners in _events by event name, in a prototype-less object", () => {
    const e = new EventEmitter();
    const f = () => {};
    e.on('packet', f);
    const events = (e as unknown as { _events: Record<string, unknown> })._events;
    assert.equal(events.packet, f);
    assert.equal(Object.getPrototypeOf(events), null);
  });

  test('the compact table keeps every listener, adds and removes more, and has no inherited keys', () => {
    const e = new EventEmitter();
    const got: string[] = [];
    e.on('packet', (x: string) => got.push(`p:${x}`));
    e.on('error', (x: string) => got.push(`e:${x}`));
    compactParserListeners(e);
    const table = (e as unknown as { _events: object })._events;
    assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(table)), null);
    assert.equal('toString' in table, false);
    assert.equal('constructor' in table, false);
    e.emit('packet', '1');
    e.emit('error', '2');
    const first = (x: string) => got.push(`first:${x}`);
    e.prependListener('packet', first);
    e.emit('packet', '3');
    e.removeListener('packet', first);
    e.emit('packet', '4');
    e.on('toString', () => got.push('toString'));
    e.emit('toString');
    assert.deepEqual(got, ['p:1', 'e:2', 'first:3', 'p:3', 'p:4', 'toString']);
    assert.deepEqual(e.eventNames().sort(), ['error', 'packet', 'toString']);
  });
});
