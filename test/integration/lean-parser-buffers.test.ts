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
import mqttPacket from 'mqtt-packet';
import { packageResetState, useLeanParserBuffers } from '../../server/broker/core/internals/mqtt-packet.ts';
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
