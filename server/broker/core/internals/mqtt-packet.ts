// Everything Tern relies on inside mqtt-packet's Parser, in one place (test/unit/internals.test.ts
// pins it, and test/integration/lean-parser-buffers.test.ts the parser's buffer, settings and
// states). aedes keeps one Parser per client (client._parser). How mqtt-packet gets its `debug`
// is in mqtt-packet-debug.ts, which must run before mqtt-packet loads.
import { createRequire } from 'node:module';
import type { Client } from '../aedes-types.ts';
import { clientParser } from './aedes.ts';

/** mqtt-packet's own modules, and bl as mqtt-packet resolves it (the BufferList it was built on) */
const fromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));

/** The parser internals aedes' client keeps: mqtt-packet's Parser. */
interface PacketParser {
  packet: { length: number; cmd?: string };
  /** the method names parse() steps through, in order: header, length, payload, new packet */
  _states: string[];
  /** set by aedes */
  client: { broker: object };
  _parseLength(): boolean;
  _emitError(err: Error): void;
  _ternParseLength?: () => boolean;
}

/** where limitPacketSize keeps the limit: on the aedes instance, read through parser.client.broker */
const MAX_PACKET_SIZE = Symbol('tern.maxPacketSize');
const LIMITED_STATES = ['_parseHeader', '_ternParseLength', '_parsePayload', '_newPacket'];

function limitedParseLength(this: PacketParser): boolean {
  const ok = this._parseLength();
  const max = (this.client.broker as { [MAX_PACKET_SIZE]?: number })[MAX_PACKET_SIZE] ?? 0;
  if (ok && max > 0 && this.packet.length > max) {
    this._emitError(new Error(`packet of ${this.packet.length} bytes exceeds mqtt.max_packet_size (${max})`));
    return false;
  }
  return ok;
}

/**
 * Closes a connection whose next packet announces a Remaining Length above max_packet_size,
 * before its body is buffered. mqtt-packet has no such option. Its parser steps through the
 * method names in `_states`; a limited client's parser gets a shared list naming a length step
 * that checks the limit. That step is added to mqtt-packet's Parser prototype once, and does
 * nothing for parsers that do not name it, so no connection carries a wrapper of its own.
 */
export function packetSizeLimiter(aedes: object, maxBytes: number): (client: Client) => void {
  (aedes as { [MAX_PACKET_SIZE]?: number })[MAX_PACKET_SIZE] = maxBytes;
  return (client) => {
    const parser = clientParser<PacketParser>(client);
    if (!parser || maxBytes <= 0) return;
    const proto = Object.getPrototypeOf(parser) as PacketParser;
    if (!proto._ternParseLength) proto._ternParseLength = limitedParseLength;
    parser._states = LIMITED_STATES;
  };
}

/** where limitSubscribeQos keeps the cap: on the aedes instance, read through parser.client.broker */
const MAX_QOS = Symbol('tern.maxQosAllowed');
/** marks a parser whose SUBSCRIBEs are capped */
const QOS_CAPPED = Symbol('tern.qosCapped');
type CappedParser = import('node:events').EventEmitter & { client?: { broker: object }; [QOS_CAPPED]?: true };

function capSubscribeQos(this: CappedParser, packet: { cmd: string; subscriptions?: { qos: number }[] }): void {
  if (packet.cmd !== 'subscribe' || !packet.subscriptions) return;
  const max = (this.client?.broker as { [MAX_QOS]?: number } | undefined)?.[MAX_QOS] ?? 2;
  for (const sub of packet.subscriptions) if (sub.qos > max) sub.qos = max;
}

/**
 * mqtt.max_qos_allowed for subscriptions: the granted QoS is capped [MQTT-3.9.3-2 allows a lower
 * grant]. aedes grants what was asked whatever authorizeSubscribe returns, so the SUBSCRIBE is
 * rewritten as it leaves the parser, before aedes sees it. The cap is read per SUBSCRIBE from the
 * aedes instance (setMaxQosAllowed), so a reload applies to connected clients too; a client gets
 * the listener only while a cap below 2 is in force, so an uncapped broker pays nothing per packet.
 */
export function limitSubscribeQos(client: Client): void {
  const parser = clientParser<CappedParser>(client);
  const broker = (client as unknown as { broker: { [MAX_QOS]?: number } }).broker;
  if (!parser || parser[QOS_CAPPED] || (broker[MAX_QOS] ?? 2) >= 2) return;
  parser[QOS_CAPPED] = true;
  parser.prependListener('packet', capSubscribeQos);
}

/** Sets the cap limitSubscribeQos applies; lowering it caps the connected clients as well. */
export function setMaxQosAllowed(aedes: object, maxQos: number, connected: Iterable<Client>): void {
  (aedes as { [MAX_QOS]?: number })[MAX_QOS] = maxQos;
  if (maxQos < 2) for (const c of connected) limitSubscribeQos(c);
}

/**
 * mqtt-packet's writeToStream, for every packet it writes to a stream that has a cork() method,
 * corks it and schedules the uncork with a nextTick. A stream the write batcher already holds
 * corked for the whole event-loop turn gains nothing from that, and the nextTick per packet cost
 * about 4% of the broker's CPU under a QoS 0 flood (profiled). Hiding cork on the instance skips
 * it; the batcher corks through Writable.prototype.cork itself.
 */
export function hideCorkFromPacketWriter(stream: object): void {
  (stream as { cork?: unknown }).cork = undefined;
}

/** mqtt-packet's own `_states`, which its parser() gives every parser as an array of its own */
export const PACKAGE_STATES: readonly string[] = Object.freeze(['_parseHeader', '_parseLength', '_parsePayload', '_newPacket']);

/** what a parser reads of its `settings` once the CONNECT is parsed */
interface ParserSettings {
  protocolVersion?: number;
  bridgeMode?: boolean;
}
const sharedSettings = new Map<string, ParserSettings>();
const NO_SETTINGS: ParserSettings = Object.freeze({});

/**
 * What an idle connection's parser keeps, made shared. mqtt-packet's parser() gives each parser
 * a `_states` array of its own (the parser only indexes it), and its CONNECT parse sets the
 * parser's `settings` to the CONNECT packet itself, which then stays for the connection's
 * lifetime (client id, username, password Buffer, will, properties) although the parser reads
 * only `protocolVersion` and `bridgeMode` of it afterwards. A new parser gets the shared
 * `_states`; once its CONNECT has been emitted, forgetConnectPacket gives it a shared settings
 * object with those two fields. test/integration/lean-parser-buffers.test.ts pins both.
 */
export function shareParserStates(parser: object): void {
  const p = parser as { _states: readonly string[]; settings?: ParserSettings };
  p._states = PACKAGE_STATES;
  // parser() sets an empty object of its own until the CONNECT replaces it
  if (p.settings && Object.keys(p.settings).length === 0) p.settings = NO_SETTINGS;
}

export function forgetConnectPacket(parser: object): void {
  const p = parser as { settings?: ParserSettings };
  const connect = p.settings;
  if (!connect) return;
  const protocolVersion = connect.protocolVersion;
  const bridgeMode = connect.bridgeMode === true;
  const key = `${protocolVersion}:${bridgeMode}`;
  let shared = sharedSettings.get(key);
  if (!shared) sharedSettings.set(key, (shared = Object.freeze({ protocolVersion, bridgeMode })));
  p.settings = shared;
}

interface ResettableParser {
  packet: unknown;
  error: Error | null;
  _list: unknown;
  _stateCounter: number;
  _resetState(): void;
}
type PacketClass = new () => unknown;
/** mqtt-packet's Packet, the object its parser fills (made by the lean _resetState and by parseChunk) */
const Packet = fromMqttPacket('./packet.js') as PacketClass;
type BufferListClass = new () => unknown;

const parserProto = (fromMqttPacket('./parser.js') as { prototype: ResettableParser }).prototype;
/** the package's own _resetState, kept for test/integration/lean-parser-buffers.test.ts to check against */
export const packageResetState: (this: ResettableParser) => void = parserProto._resetState;

/**
 * mqtt-packet's Parser buffers its input in `bl()`, a BufferListStream: a whole readable-stream
 * Duplex (readable and writable state, listener lists) per parser, and aedes keeps a parser per
 * client for as long as it is connected. The parser only calls BufferList methods on it (append,
 * consume, length, readUInt8/16BE/32BE, slice, toString), so a plain BufferList serves it, at
 * ~0.9 KB less heap per connection (BENCHMARKS.md, issue 9). _resetState, which the constructor
 * and the first parse() after an error call, is replaced on the prototype by one that sets what
 * the package's sets, with a BufferList. Once per process; parsers made earlier keep their bl().
 */
export function useLeanParserBuffers(): void {
  if (parserProto._resetState !== packageResetState) return;
  const BufferList = createRequire(fromMqttPacket.resolve('bl'))('./BufferList.js') as BufferListClass;
  parserProto._resetState = function leanResetState(this: ResettableParser): void {
    this.packet = new Packet();
    this.error = null;
    this._list = new BufferList();
    this._stateCounter = 0;
  };
}

/** an EventEmitter's listener table with fast properties and no prototype (see compactParserListeners) */
class ListenerTable {}
Object.setPrototypeOf(ListenerTable.prototype, null);
delete (ListenerTable.prototype as { constructor?: unknown }).constructor;

/**
 * Node's EventEmitter keeps its listeners in `_events`, made with `{ __proto__: null }`: a
 * dictionary-mode object (~0.18 KB with its hash table) that every idle connection's parser keeps
 * for its two listeners. Once they are added, the table is copied into an object of one shared
 * shape, still without a prototype, so any event name stays a plain key (~40 bytes).
 * EventEmitter reads and writes `_events` by key only; listeners added later go on the copy.
 */
export function compactParserListeners(emitter: object): void {
  const e = emitter as { _events?: Record<string | symbol, unknown> };
  const events = e._events;
  if (!events) return;
  const table = new ListenerTable() as Record<string | symbol, unknown>;
  for (const key of Reflect.ownKeys(events)) table[key] = events[key];
  e._events = table;
}

interface ChunkParser {
  packet: unknown;
  error: Error | null;
  _list: { length: number; _bufs: unknown[] };
  _stateCounter: number;
  parse(buf: Buffer): number;
}

/** what a parked parser holds as its packet: frozen, so a parse() that skipped parseChunk fails loudly */
export const IDLE_PACKET: object = Object.freeze(new Packet());

/**
 * parser.parse(buf), and between two reads a parser at a packet boundary holds nothing of its
 * own: mqtt-packet's parser makes the next packet's object (0.12 KB) as soon as one is emitted,
 * and its buffer list keeps the backing store of its emptied array (0.15 KB), both for as long as
 * the connection is idle. Parked, the parser holds a shared frozen packet until the next chunk.
 * Only at a boundary (state 0, nothing buffered): a packet split across reads keeps its parts.
 */
export function parseChunk(parser: object, buf: Buffer): void {
  const p = parser as ChunkParser;
  if (p.packet === IDLE_PACKET) p.packet = new Packet();
  p.parse(buf);
  if (p._stateCounter === 0 && p._list.length === 0 && p.error === null) {
    p.packet = IDLE_PACKET;
    // length 0 releases the array's backing store; the next append makes a new one
    p._list._bufs.length = 0;
  }
}
