// Tern's own construction of aedes' per-connection Client, the one place that does it
// (test/unit/aedes-client.test.ts pins it against the installed aedes).
//
// Why: aedes' Client constructor allocates, for every connection and for as long as it lasts,
// four closures of its own (nextBatch, deliver0, deliverQoS, getToForwardPacket), bound functions,
// end-of-stream's seven listener closures, an EventEmitter listener table with a once wrapper,
// two dictionary-mode maps, a Set and two arrays: ~3 KB of heap per idle connection
// (BENCHMARKS.md, issue 9). Here a client is a LeanClient, a class whose prototype sits on aedes'
// Client.prototype (every aedes method, handler and `instanceof` works as before) and whose
// constructor sets aedes' fields: the listeners on the connection and the parser are shared
// functions reading `this.client`, and what a connection may never use (its subscription maps, the
// QoS 2 window, the drain queue, the two delivery functions) is made on first use, through
// accessors. Code that only reads a client's subscriptions uses subscriptionsOf, which makes none.
//
// aedes' handlers talk to the client through two events only ('error' and 'connected'), so the
// client does not carry an EventEmitter table: emit() handles those two and passes anything else
// to EventEmitter if someone listens. Everything else aedes reads or writes on a client is a field
// set here with aedes' meaning; the pin test compares the fields with aedes' own constructor's.
// Once connected, a client is also its own keepalive timer, checked by one sweep for all clients
// instead of aedes' Timeout per connection (see adoptKeepalive below).
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import AedesPacket from 'aedes-packet';
import type { AedesPublishPacket } from 'aedes';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { AedesBroker, AedesClient } from '../aedes-types.ts';
import { highestGrantedQoS } from '../../topic.ts';
import { compactParserListeners, forgetConnectPacket, parseChunk, shareParserStates } from './mqtt-packet.ts';

const require = createRequire(import.meta.url);
/** aedes' own modules (not in its package exports): the same instances aedes itself loaded */
const aedesDir = path.dirname(require.resolve('aedes'));
const load = async <T>(rel: string): Promise<T> => ((await import(pathToFileURL(path.join(aedesDir, rel)).href)) as { default: T }).default;

type Done = (err?: Error | null) => void;
type Handle = (client: LeanClient, packet: object, done: Done) => void;
type Write = (client: LeanClient, packet: object, done: (err: Error | null) => void) => void;
type QoSPacketClass = new (original: object, client: LeanClient) => AedesPublishPacket & { writeCallback: Done };

/** aedes' Client class: its prototype carries every method a client has */
export const AedesClientClass = await load<new (broker: AedesBroker, conn: Duplex, req?: IncomingMessage) => AedesClient>('lib/client.js');
const handle = await load<Handle>('lib/handlers/index.js');
const write = await load<Write>('lib/write.js');
const QoSPacket = await load<QoSPacketClass>('lib/qos-packet.js');
const mqtt = require(require.resolve('mqtt-packet', { paths: [aedesDir] })) as { parser(): ParserLike };
const Packet = AedesPacket as unknown as new (p: object, broker: AedesBroker) => AedesPublishPacket;

interface ParserLike extends EventEmitter {
  client: LeanClient;
  _queue: object[] | null;
  parse(buf: Buffer): number;
}

type Deliver = (packet: AedesPublishPacket, done: () => void) => void;

type Broker = AedesBroker & {
  opts: { concurrency: number; drainTimeout?: number };
  queueLimit: number;
  connectTimeout: number;
  persistence: { outgoingUpdate(c: LeanClient, p: object): Promise<unknown>; outgoingClearMessageId(c: LeanClient, p: object): Promise<unknown> };
  authorizeForward(c: LeanClient, p: AedesPublishPacket): AedesPublishPacket | null | undefined;
};

function noop(): void {}

// ---- shared listeners: `this` is the parser or the connection, each pointing at its client ----

/** aedes' enqueue: a packet is handled at once when the client is connected or it is the first */
function onPacket(this: ParserLike, packet: object): void {
  const client = this.client;
  // the parser keeps its CONNECT as its settings: a shared object instead (mqtt-packet.ts)
  if (!client.connackSent && (packet as { cmd?: string }).cmd === 'connect') forgetConnectPacket(this);
  client._parsingBatch++;
  if (client.connackSent || client._parsingBatch === 1) {
    handle(client, packet, client._nextBatch);
  } else {
    const q = (this._queue ??= []);
    if (q.length < client.broker.queueLimit) q.push(packet);
    else this.emit('error', new Error('Client queue limit reached'));
  }
}

function onParserError(this: ParserLike, err: Error): void {
  this.client._onError(err);
}

function onReadable(this: { client: LeanClient }): void {
  this.client._nextBatch();
}

function onConnError(this: { client: LeanClient }, err: Error): void {
  this.client._onError(err);
}

/** aedes closes on 'end' and when end-of-stream reports the stream finished (closed, for a socket) */
function onConnEnd(this: { client: LeanClient }): void {
  this.client.close();
}

/** close() calls _eos() once: the end-of-stream listener goes, and the client leaves the keepalive sweep */
function detachEndOfStream(this: LeanClient): void {
  this.conn.removeListener('close', onConnEnd);
  keepalives.delete(this);
}

function onConnectTimeout(client: LeanClient): void {
  client._onError(new Error('connect did not arrive in time'));
}

/** aedes' dequeue: the packets that arrived before CONNACK, once connected */
function dequeue(client: LeanClient): void {
  const q = client._parser._queue;
  client._parser._queue = null;
  if (q) for (const packet of q) handle(client, packet, client._nextBatch);
}

// ---- the two delivery functions aedes subscribes with (made once a client needs them) ----------

function dedupe(client: LeanClient, packet: AedesPublishPacket): boolean {
  const id = (packet as { brokerId?: string }).brokerId;
  if (!id) return true;
  const counter = (packet as { brokerCounter: number }).brokerCounter;
  const duplicates = (client._dups ??= Object.create(null) as Record<string, number>);
  const fresh = (duplicates[id] ?? 0) < counter;
  if (fresh) duplicates[id] = counter;
  return fresh;
}

function toForward(client: LeanClient, packet: AedesPublishPacket): AedesPublishPacket | null | undefined {
  // MQTT 5 no-local, as aedes checks it
  if ((packet as { clientId?: string }).clientId === client.id && (packet as { nl?: boolean }).nl) return undefined;
  return dedupe(client, packet) ? client.broker.authorizeForward(client, packet) : undefined;
}

/** the packet at the highest QoS the client's matching subscriptions were granted, if lower (a copy) */
function withGrantedQoS(client: LeanClient, packet: AedesPublishPacket): AedesPublishPacket {
  const granted = client._subs ? highestGrantedQoS(client._subs, packet.topic) : undefined;
  return granted !== undefined && granted < packet.qos ? { ...packet, qos: granted as 0 | 1 | 2 } : packet;
}

function writeQoS(client: LeanClient, packet: AedesPublishPacket & { writeCallback: Done }, err?: unknown): void {
  if (err) {
    client._onError(err as Error);
    packet.writeCallback();
    return;
  }
  write(client, packet, (werr) => {
    if (werr) client._onError(werr);
    packet.writeCallback();
  });
}

function makeDeliver0(client: LeanClient): Deliver {
  const broker = client.broker;
  return function deliverQoS0(original, done) {
    // a QoS 1/2 message through a QoS 0 subscription: authorizeForward (message.delivered, the
    // acknowledgements awaited) sees the QoS it goes out with
    const forward = toForward(client, original.qos === 0 ? original : { ...original, qos: 0 });
    if (!forward) {
      setImmediate(done);
      return;
    }
    // as aedes: the write waits for the next turn, so a deep fan-out does not grow the stack
    setImmediate(() => {
      const packet = new Packet(forward, broker);
      packet.qos = 0;
      write(client, packet, (err) => {
        client._onError(err);
        done();
      });
    });
  };
}

function makeDeliverQoS(client: LeanClient): Deliver {
  return function deliverQoS(original, done) {
    // aedes lowers a delivery to the subscription's QoS only where the filter is the topic itself,
    // so a QoS 2 message through a QoS 1 wildcard, or a retained message sent at a SUBSCRIBE
    // through any filter, went out above the QoS granted [MQTT-3.8.4-6]. Lowered here, before
    // authorizeForward, so message.delivered says the QoS delivered. A live QoS 1 message needs no
    // look: deliverQoS is the delivery of subscriptions granted QoS 1 or 2.
    const delivered = original.qos === 2 || original.retain ? withGrantedQoS(client, original) : original;
    if (delivered.qos === 0) {
      (client as unknown as { deliver0: Deliver }).deliver0(delivered, done);
      return;
    }
    const forward = toForward(client, delivered);
    if (forward) {
      setImmediate(() => {
        const packet = new QoSPacket(forward, client);
        packet.writeCallback = done;
        if (client.clean || packet.retain) writeQoS(client, packet);
        else {
          const then = (err?: unknown) => writeQoS(client, packet, err);
          client.broker.persistence.outgoingUpdate(client, packet).then(() => then(), then);
        }
      });
    } else if (!client.clean) {
      client.broker.persistence.outgoingClearMessageId(client, original).then(noop, noop);
      setImmediate(done);
    } else {
      setImmediate(done);
    }
  };
}

// ---- keepalive: one sweep for every client instead of a timer per connection -----------------

/**
 * aedes gives each connection with a keepalive a Timeout of its own and a closure for it (~0.25 KB
 * with the Timeout's boxed times, for as long as the client is connected) and refreshes the
 * Timeout on every packet it handles (`client._keepaliveTimer.refresh()`). Once connected, a lean
 * client is its own keepalive timer: aedes' Timeout is cleared, refresh() stamps the sweep's tick,
 * and one interval for the process closes, as aedes' timer would (its 'keepaliveTimeout' event,
 * then the 'keep alive timeout' error), each client whose last packet is older than aedes'
 * interval (1.5 × keepalive + 1 ms [MQTT-3.1.2-24]). A tick is SWEEP_MS: a client goes at most
 * two ticks late, never early. aedes' close() hands the client to clearTimeout, which ignores it.
 */
const SWEEP_MS = 500;
/** sweeps since the sweep started: a small integer, so a client's stamp is no boxed number */
let tick = 0;
let sweep: NodeJS.Timeout | null = null;
/**
 * the connected clients that are their own keepalive timer: a Set (~32 bytes a client, iterated in
 * ~16 µs per 1,000) rather than aedes' clients map, whose for-in over 10,000 ids took 2 ms a sweep
 */
const keepalives = new Set<LeanClient>();

/** how many connected clients the keepalive sweep holds (for tests: a closed one must not stay) */
export const sweptClients = (): number => keepalives.size;

function onKeepaliveTimeout(client: LeanClient): void {
  keepalives.delete(client);
  client._keepaliveTimer = null;
  client.broker.emit('keepaliveTimeout', client);
  client.emit('error', new Error('keep alive timeout'));
}

function sweepKeepalives(): void {
  tick++;
  for (const c of keepalives) {
    // the stamp was taken somewhere within its tick: a whole tick more has surely passed
    if (c._keepaliveInterval > 0 && (tick - c._seen - 1) * SWEEP_MS >= c._keepaliveInterval) onKeepaliveTimeout(c);
  }
  if (keepalives.size === 0 && sweep) {
    clearInterval(sweep);
    sweep = null;
  }
}

/** on 'connected' (aedes has set its keepalive timer by then): the client takes the timer's place */
function adoptKeepalive(client: LeanClient): void {
  const timer = client._keepaliveTimer;
  if (!timer || timer === client || client.closed) return;
  clearTimeout(timer as NodeJS.Timeout);
  client._keepaliveTimer = client;
  client._seen = tick;
  keepalives.add(client);
  if (!sweep) {
    sweep = setInterval(sweepKeepalives, SWEEP_MS);
    sweep.unref();
  }
}

// ---- the client -----------------------------------------------------------------------------

/**
 * A client as aedes' handlers see it: aedes' fields with aedes' meaning, on an object whose
 * prototype chain runs through aedes' Client.prototype (every method but emit is aedes').
 */
class LeanClient {
  closed = false;
  connecting = false;
  connected = false;
  connackSent = false;
  errored = false;
  id: string | null = null;
  clean = true;
  version: number | null = null;
  broker: Broker;
  conn: Duplex & { client?: LeanClient };
  _disconnected = false;
  _authorized = false;
  _parsingBatch = 1;
  _nextId = Math.ceil(Math.random() * 65535);
  _drainTimer: NodeJS.Timeout | null = null;
  _onDrainBound: (() => void) | null = null;
  req: IncomingMessage | undefined;
  connDetails: unknown;
  will: unknown = null;
  _will: unknown = null;
  _parser: ParserLike;
  _nextBatch: (err?: Error | null) => void;
  _eos: () => void = detachEndOfStream;
  /** aedes' Timeout until connected, then the client itself (see adoptKeepalive) */
  _keepaliveTimer: NodeJS.Timeout | LeanClient | null = null;
  _keepaliveInterval = -1;
  /** the keepalive sweep's tick at the last packet handled */
  _seen = 0;
  _connectTimer: NodeJS.Timeout | null;
  _paused = false;
  /** Tern's session record (listeners.ts) */
  tern: unknown = null;
  // made on first use, through the accessors below
  _subs: Record<string, { qos: number }> | null = null;
  _dups: Record<string, number> | null = null;
  _inflight: Set<number> | null = null;
  _drains: Done[] | null = null;
  _deliver0: Deliver | null = null;
  _deliverQoS: Deliver | null = null;

  constructor(broker: Broker, conn: Duplex, req: IncomingMessage | undefined, connectWaitMs: number) {
    this.broker = broker;
    this.conn = conn;
    (conn as LeanClient['conn']).client = this;
    this.req = req;
    this.connDetails = req ? (req as { connDetails?: unknown }).connDetails : null;
    const parser = mqtt.parser();
    parser.client = this;
    parser._queue = null;
    shareParserStates(parser);
    parser.on('packet', onPacket);
    parser.on('error', onParserError);
    compactParserListeners(parser);
    this._parser = parser;
    // a method's bound copy, not a function declaration's: tsx compiles with esbuild's keepNames,
    // which redefines every declared function's `name`, and bind() of such a function makes a
    // dictionary-mode copy (~0.3 KB per connection, BENCHMARKS.md issue 9, ninth pass)
    this._nextBatch = this._readNextBatch.bind(this);
    conn.on('readable', onReadable);
    conn.on('error', onConnError);
    conn.on('end', onConnEnd);
    conn.on('close', onConnEnd);
    this._connectTimer = setTimeout(onConnectTimeout, connectWaitMs, this);
  }

  /** what aedes calls on its keepalive timer for every packet it handles: the client is its timer once connected */
  refresh(): void {
    this._seen = tick;
  }

  /** aedes' nextBatch: reads the next chunk once every packet of the previous one is handled */
  _readNextBatch(err?: Error | null): void {
    if (err) {
      this._onError(err);
      return;
    }
    if (this._paused) return;
    this._parsingBatch--;
    if (this._parsingBatch <= 0) {
      this._parsingBatch = 0;
      const buf = (this.conn as unknown as { read(n: null): Buffer | null }).read(null);
      if (buf) parseChunk(this._parser, buf);
    }
  }

  get subscriptions(): Record<string, { qos: number }> {
    return (this._subs ??= Object.create(null) as Record<string, { qos: number }>);
  }

  get duplicates(): Record<string, number> {
    return (this._dups ??= Object.create(null) as Record<string, number>);
  }

  get _inboundInflight(): Set<number> {
    return (this._inflight ??= new Set<number>());
  }

  // close() and the drain handlers put a fresh [] here: an empty list is kept as none
  get _pendingDrains(): Done[] {
    return (this._drains ??= []);
  }

  set _pendingDrains(list: Done[]) {
    this._drains = list.length > 0 ? list : null;
  }

  get deliver0(): Deliver {
    return (this._deliver0 ??= makeDeliver0(this));
  }

  get deliverQoS(): Deliver {
    return (this._deliverQoS ??= makeDeliverQoS(this));
  }

  /** aedes' handlers emit 'error' and 'connected' on a client; anything else goes to EventEmitter listeners, if any */
  emit(event: string, arg?: unknown): boolean {
    if (event === 'error') this._onError(arg as Error);
    else if (event === 'connected') {
      adoptKeepalive(this);
      dequeue(this);
    }
    if ((this as { _events?: object })._events !== undefined) return (EventEmitter.prototype.emit as (this: unknown, e: string, a?: unknown) => boolean).call(this, event, arg);
    return event === 'error' || event === 'connected';
  }
}
// aedes' Client methods (close, publish, subscribe, waitForDrain, _onError, ...) and EventEmitter's
interface LeanClient {
  _onError(err?: Error | null): void;
  close(done?: () => void): void;
}
Object.setPrototypeOf(LeanClient.prototype, AedesClientClass.prototype);

/**
 * A client's subscriptions by filter, for code that only reads them: a lean client that has none
 * answers undefined rather than making its map (reading `subscriptions` would make one, and a count
 * over every connection would then give each idle one a map). Other clients answer their own.
 */
export function subscriptionsOf(client: object): Readonly<Record<string, { qos: number }>> | undefined {
  return client instanceof LeanClient ? (client._subs ?? undefined) : (client as { subscriptions?: Record<string, { qos: number }> }).subscriptions;
}

/**
 * What aedes' `broker.handle(conn, req)` does, with the lean client: returns the new client.
 * `connectWaitMs` is how long the connection may wait for its CONNECT (aedes' connectTimeout
 * unless given).
 */
export function createClient(broker: AedesBroker, conn: Duplex, req?: IncomingMessage, connectWaitMs?: number): AedesClient {
  const b = broker as Broker;
  // as aedes' handle(): waitForDrain without a drainTimeout adds a 'drain' listener per write
  conn.setMaxListeners(b.opts.concurrency * 2);
  return new LeanClient(b, conn, req, connectWaitMs ?? b.connectTimeout) as unknown as AedesClient;
}
