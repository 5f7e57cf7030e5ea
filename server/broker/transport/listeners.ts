// Opens the MQTT listeners (tcp, ssl, ws, wss) and hands every accepted stream to aedes with the
// listener's zone attached. A port that cannot be bound is a start-up error naming the listener.
// A reload (server/reload.ts) changes the set in two steps, stage() then commit(), so that no
// established connection is ever touched: a listener's connections are its own (they stay when
// it moves or stops accepting), separate from the sockets it accepts on (Acceptor).
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { ListenerConfig } from '../../config/types.ts';
import type { Logger } from '../../logger.ts';
import type { ListenerStatus } from '../types.ts';
import type { AedesBroker, AedesClient } from '../core/aedes-types.ts';
import type { ConfigSource } from '../../config/source.ts';
import { SessionRecord } from '../session/session-record.ts';
import { createClient } from '../core/internals/aedes-client.ts';
import { accessCheck, packetSizeLimiter, limitSubscribeQos, setMaxQosAllowed } from '../protocol/limits.ts';
import { createWriteBatcher, type WriteBatcher } from './write-batcher.ts';

export class ListenerError extends Error {
  constructor(
    message: string,
    /** the emqx.conf key at fault, when one is: listener.tcp.external, listener.ssl.external.certfile */
    readonly key?: string,
    /** the bare reason, e.g. "the port is already in use" */
    readonly reason?: string,
    /** errno code of a failed bind */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ListenerError';
  }
}

export interface RunningListener {
  /** the settings in force (a reload replaces them) */
  config: ListenerConfig;
  id: string;
  /** where it accepts now (the real port when configured as 0) */
  port: number;
  host: string;
  /**
   * live transport sockets (the TCP socket under TLS or WebSocket too), including connections
   * accepted at an address the listener has since moved away from
   */
  sockets: Set<net.Socket>;
  closedBytes: { received: number; sent: number };
  /** false once a reload removed it: it accepts nothing, its clients may still be connected */
  accepting: boolean;
  /** stops accepting and closes every connection */
  close(): Promise<void>;
}

/** TLS listeners start only with both files; the others always. */
export function shouldRun(l: ListenerConfig): boolean {
  return !(l.proto === 'ssl' || l.proto === 'wss') || Boolean(l.keyfile && l.certfile);
}

export interface Listeners {
  /** the listeners accepting connections */
  running: RunningListener[];
  /** removed by a reload, not accepting, kept while their clients are connected */
  draining(): RunningListener[];
  status(): ListenerStatus[];
  /** bytes read from and written to client sockets since start */
  bytes(): { received: number; sent: number };
  /** the bound port of "<proto>:<name>" */
  port(id: string): number | undefined;
  /** the TLS files in force for "<proto>:<name>", as last read */
  tlsFiles(id: string): tls.SecureContextOptions | undefined;
  /**
   * Binds every socket the new listener set needs (added listeners, new addresses of moved
   * ones) while the old ones keep accepting. Throws ListenerError, with nothing changed, when
   * one cannot be bound. commit() then switches over; abort() undoes the binding.
   */
  stage(next: ListenerConfig[], tlsFiles: Map<string, tls.SecureContextOptions>): Promise<StagedListeners>;
  close(): Promise<void>;
}

export interface StagedListeners {
  commit(opts: { closeRemovedClients: boolean }): void;
  abort(): Promise<void>;
}

/** Connections per second above max_conn_rate are closed on accept. */
function rateGate(perSecond: number): () => boolean {
  if (perSecond <= 0) return () => true;
  let windowStart = 0;
  let count = 0;
  return () => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      count = 0;
    }
    return ++count <= perSecond;
  };
}

/** Reads a TLS listener's key, certificate and CA files; throws ListenerError naming the file. */
export function readTlsFiles(l: ListenerConfig): tls.SecureContextOptions {
  const read = (what: string, file: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new ListenerError(`listener ${l.proto}.${l.name}: cannot read ${what} ${file}: ${(err as Error).message}`, `listener.${l.proto}.${l.name}.${what}`);
    }
  };
  return {
    key: read('keyfile', l.keyfile!),
    cert: read('certfile', l.certfile!),
    ...(l.cacertfile ? { ca: read('cacertfile', l.cacertfile) } : {}),
  };
}

/**
 * Sets TCP_NODELAY on a listening socket. Linux copies it to every socket accept() returns, which
 * saves a setsockopt per connection (5% of the broker's CPU while accepting connections at full
 * speed). Node has no public call for a server's socket options, so this uses the server's libuv
 * handle, and reports false (set it per socket) where that is missing or the OS does not inherit.
 */
function noDelayOnListener(server: net.Server): boolean {
  if (process.platform !== 'linux') return false;
  const handle = (server as unknown as { _handle?: { setNoDelay?: (on: boolean) => number } })._handle;
  return typeof handle?.setNoDelay === 'function' && handle.setNoDelay(true) === 0;
}

function listen(server: net.Server, l: ListenerConfig): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const what =
        err.code === 'EADDRINUSE'
          ? 'the port is already in use'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.message;
      reject(new ListenerError(`listener ${l.proto}.${l.name} cannot bind ${l.host}:${l.port}: ${what}`, `listener.${l.proto}.${l.name}`, what, err.code));
    };
    server.once('error', onError);
    server.listen(l.port, l.host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** One bound socket of a listener. A listener that moved has the old one, no longer accepting, too. */
interface Acceptor {
  server: net.Server;
  wss?: WebSocketServer;
  host: string;
  port: number;
  /** set once it stopped accepting; resolves when its last connection ended */
  stopped?: Promise<void>;
}

interface ListenerPolicy {
  allowRate: () => boolean;
  allowAddress: ((ip: string | undefined) => boolean) | undefined;
}

interface Shared {
  config: ConfigSource;
  aedes: AedesBroker;
  batcher: WriteBatcher;
  limitPacketSize: (client: AedesClient) => void;
  log: Logger;
}

/**
 * A listener: its settings, its connections, and the sockets it accepts on. Settings are read at
 * accept time from `running.config`, so a reload changes them by replacing it (update()).
 */
class Listener {
  readonly running: RunningListener;
  private policy: ListenerPolicy;
  private readonly acceptors: Acceptor[] = [];
  tls: tls.SecureContextOptions | undefined;

  constructor(
    l: ListenerConfig,
    tlsFiles: tls.SecureContextOptions | undefined,
    private readonly shared: Shared,
  ) {
    this.tls = tlsFiles;
    this.policy = { allowRate: rateGate(l.max_conn_rate), allowAddress: accessCheck(l) };
    this.running = {
      config: l,
      id: `${l.proto}:${l.name}`,
      port: 0,
      host: l.host,
      sockets: new Set(),
      closedBytes: { received: 0, sent: 0 },
      accepting: true,
      close: () => this.close(),
    };
    const running = this.running;
    // one function for every connection of this listener (no closure per connection)
    this.onTransportClose = function onTransportClose(this: net.Socket) {
      running.sockets.delete(this);
      running.closedBytes.received += this.bytesRead;
      running.closedBytes.sent += this.bytesWritten;
    };
  }

  private readonly onTransportClose: (this: net.Socket) => void;

  /** Returns false when the listener is full or over its rate: the caller drops the connection. */
  private admit(socket: net.Socket): boolean {
    // The peer address is read only when access rules need it: reading it costs a getpeername
    // syscall and an address object kept on the socket for its lifetime.
    const { allowAddress, allowRate } = this.policy;
    if (allowAddress && !allowAddress(socket.remoteAddress)) return false;
    if (!allowRate()) return false;
    const max = this.running.config.max_connections;
    if (max > 0 && this.running.sockets.size >= max) return false;
    return true;
  }

  private handle(stream: Duplex, transport: net.Socket, req?: http.IncomingMessage): void {
    const running = this.running;
    const l = running.config;
    running.sockets.add(transport);
    // `on`, not `once`: a socket closes once, and once() would cost a wrapper per connection
    transport.on('close', this.onTransportClose);
    // TCP and TLS only: aedes' close after a refusing CONNACK destroys a WebSocket stream at once,
    // so a frame still corked in the socket below it would be lost
    if (stream === transport) this.shared.batcher.attach(transport);
    const c = this.shared.config.get();
    // the zone's idle_timeout bounds the wait for CONNECT (aedes' connectTimeout is broker-wide)
    const client = createClient(this.shared.aedes, stream, req, (c.zones[l.zone] ?? c.zones.external!).idle_timeout) as AedesClient;
    client.tern = new SessionRecord(l.zone, running.id, client);
    this.shared.limitPacketSize(client);
    limitSubscribeQos(client);
  }

  /** Binds a new socket at l's address, accepting for this listener (TLS: with `files`). */
  async open(l: ListenerConfig, files = this.tls): Promise<Acceptor> {
    const log = this.shared.log;
    const id = this.running.id;
    let server: net.Server;
    let wss: WebSocketServer | undefined;
    // TCP_NODELAY, as EMQX sets it: on the listening socket when accepted sockets inherit it
    let noDelayInherited = false;
    if (l.proto === 'tcp' || l.proto === 'ssl') {
      const onSocket = (socket: net.Socket) => {
        if (!this.admit(socket)) return socket.destroy();
        if (!noDelayInherited) socket.setNoDelay(true);
        this.handle(socket, socket);
      };
      server = l.proto === 'tcp' ? net.createServer(onSocket) : tls.createServer(files!, onSocket as (s: tls.TLSSocket) => void);
      // A TLS handshake failure is that one client's problem.
      server.on('tlsClientError', (err: Error) => log.debug({ listener: id, err: err.message }, 'TLS handshake failed'));
    } else {
      server = l.proto === 'ws' ? http.createServer() : https.createServer(files!);
      server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to ' + this.running.config.mqtt_path);
      });
      wss = new WebSocketServer({
        server: server as http.Server,
        path: l.mqtt_path,
        // Browsers and mqtt.js offer "mqtt" (3.1.1) or "mqttv3.1"; echo what they ask for.
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
        verifyClient: (info: { req: http.IncomingMessage }) => this.admit(info.req.socket),
      });
      // ws re-emits its HTTP server's errors (a port in use, say) on itself: they are answered
      // where the server listens (a ListenerError naming the listener), not as an uncaught error
      wss.on('error', () => {});
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        this.handle(stream, req.socket, req);
      });
    }
    server.on('error', (err) => log.error({ listener: id, err: err.message }, 'listener error'));
    const port = await listen(server, l);
    if (l.proto === 'tcp' || l.proto === 'ssl') noDelayInherited = noDelayOnListener(server);
    const acceptor: Acceptor = { server, wss, host: l.host, port };
    this.acceptors.push(acceptor);
    log.info({ listener: id, bind: `${l.host}:${port}`, zone: l.zone }, 'listening');
    return acceptor;
  }

  /** The acceptor in use from now on; the others stop accepting (their connections carry on). */
  switchTo(active: Acceptor): void {
    for (const a of this.acceptors) if (a !== active) this.stop(a);
    this.running.host = active.host;
    this.running.port = active.port;
  }

  /** Stops accepting on one socket; established connections are left alone. */
  stop(a: Acceptor, quiet = false): void {
    if (a.stopped) return;
    // ws 8 leaves its clients open on close(); server.close() only stops accepting
    a.wss?.close();
    a.stopped = new Promise<void>((resolve) => a.server.close(() => resolve()));
    if (!quiet) this.shared.log.info({ listener: this.running.id, bind: `${a.host}:${a.port}` }, 'stopped accepting');
  }

  /** Forgets an acceptor that was never switched to (a reload that did not go through). */
  async discard(a: Acceptor): Promise<void> {
    this.stop(a, true);
    this.acceptors.splice(this.acceptors.indexOf(a), 1);
    await a.stopped;
  }

  active(): Acceptor | undefined {
    return this.acceptors.find((a) => !a.stopped);
  }

  stopAccepting(): void {
    for (const a of this.acceptors) this.stop(a);
    this.running.accepting = false;
  }

  /** New settings for connections accepted from now on. */
  update(l: ListenerConfig): void {
    const old = this.running.config;
    if (old.max_conn_rate !== l.max_conn_rate) this.policy = { ...this.policy, allowRate: rateGate(l.max_conn_rate) };
    if (JSON.stringify(old.access) !== JSON.stringify(l.access)) this.policy = { ...this.policy, allowAddress: accessCheck(l) };
    // ws reads options.path per upgrade request
    if (old.mqtt_path !== l.mqtt_path) for (const a of this.acceptors) if (a.wss) a.wss.options.path = l.mqtt_path;
    this.running.config = l;
  }

  /** New TLS files: new handshakes use them, established sessions are untouched. */
  setTls(files: tls.SecureContextOptions): void {
    this.tls = files;
    for (const a of this.acceptors) if (!a.stopped) (a.server as tls.Server).setSecureContext(files);
  }

  async close(): Promise<void> {
    for (const a of this.acceptors) this.stop(a, true);
    this.running.accepting = false;
    for (const s of this.running.sockets) s.destroy();
    await Promise.all(this.acceptors.map((a) => a.stopped));
  }
}

const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
/** Whether binding `a` fails while `b` is bound (Linux: a wildcard host clashes with every host). */
function clashes(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.port !== 0 && a.port === b.port && (a.host === b.host || wildcard(a.host) || wildcard(b.host));
}

const sameTls = (a: tls.SecureContextOptions | undefined, b: tls.SecureContextOptions | undefined): boolean => {
  const eq = (x: unknown, y: unknown) => (x === undefined && y === undefined) || (Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y));
  return a === b || (a !== undefined && b !== undefined && eq(a.key, b.key) && eq(a.cert, b.cert) && eq(a.ca, b.ca));
};
export { sameTls as sameTlsFiles };

export async function startListeners(deps: { config: ConfigSource; aedes: AedesBroker; logger: Logger }): Promise<Listeners> {
  const log = deps.logger.child({ module: 'listeners' });
  const limitPacketSize = packetSizeLimiter(deps.aedes, deps.config.get().mqtt.max_packet_size);
  setMaxQosAllowed(deps.aedes, deps.config.get().mqtt.max_qos_allowed, []);
  const shared: Shared = { config: deps.config, aedes: deps.aedes, batcher: createWriteBatcher(), limitPacketSize, log };
  const active = new Map<string, Listener>();
  const draining = new Set<Listener>();
  const running: RunningListener[] = [];
  const refreshRunning = () => running.splice(0, running.length, ...[...active.values()].map((li) => li.running));

  // the limits kept on the aedes instance are read per packet: re-applying them reaches every client
  const unsubscribe = deps.config.onChange(({ keys, current }) => {
    if (keys.includes('mqtt.max_packet_size')) packetSizeLimiter(deps.aedes, current.mqtt.max_packet_size);
    if (keys.includes('mqtt.max_qos_allowed')) setMaxQosAllowed(deps.aedes, current.mqtt.max_qos_allowed, Object.values(deps.aedes.clients));
  });

  // a removed listener is forgotten once its last client left
  const forgetWhenEmpty = (li: Listener) => {
    if (li.running.sockets.size === 0) return draining.delete(li);
    const check = () => {
      if (li.running.sockets.size > 0 || !draining.has(li)) return;
      draining.delete(li);
      void li.close();
    };
    for (const s of li.running.sockets) s.once('close', () => setImmediate(check));
  };

  try {
    for (const l of deps.config.get().listeners) {
      const id = `${l.proto}:${l.name}`;
      if (!shouldRun(l)) {
        log.info({ listener: id }, 'TLS listener not started: keyfile and certfile are not configured');
        continue;
      }
      const li = new Listener(l, l.proto === 'ssl' || l.proto === 'wss' ? readTlsFiles(l) : undefined, shared);
      li.switchTo(await li.open(l));
      active.set(id, li);
    }
  } catch (err) {
    unsubscribe();
    await Promise.all([...active.values()].map((li) => li.close()));
    throw err;
  }
  refreshRunning();

  const all = () => [...active.values(), ...draining];
  return {
    running,
    draining: () => [...draining].map((li) => li.running),
    port: (id) => active.get(id)?.running.port,
    tlsFiles: (id) => active.get(id)?.tls,
    bytes: () => {
      let received = 0;
      let sent = 0;
      for (const { running: r } of all()) {
        received += r.closedBytes.received;
        sent += r.closedBytes.sent;
        for (const s of r.sockets) {
          received += s.bytesRead;
          sent += s.bytesWritten;
        }
      }
      return { received, sent };
    },
    status: () =>
      all().map(({ running: r }) => ({
        id: r.id,
        type: r.config.proto,
        name: r.config.name,
        bind: `${r.host}:${r.port}`,
        zone: r.config.zone,
        running: r.accepting,
        current_connections: r.sockets.size,
        max_connections: r.config.max_connections,
      })),

    async stage(next, tlsFiles) {
      const wanted = new Map(next.filter(shouldRun).map((l) => [`${l.proto}:${l.name}`, l]));
      const added: { li: Listener; l: ListenerConfig }[] = [];
      const moved: { li: Listener; l: ListenerConfig }[] = [];
      const kept: { li: Listener; l: ListenerConfig }[] = [];
      const removed: Listener[] = [];
      for (const [id, li] of active) {
        const l = wanted.get(id);
        if (!l) removed.push(li);
        else if (l.host !== li.running.config.host || l.port !== li.running.config.port) moved.push({ li, l });
        else kept.push({ li, l });
      }
      for (const [id, l] of wanted) {
        if (!active.has(id)) added.push({ li: new Listener(l, tlsFiles.get(id), shared), l });
      }
      // the addresses this reload gives up: a new socket that clashes with one of them is bound
      // after it stops accepting (0.0.0.0:1883 → 127.0.0.1:1883, or two listeners swapping ports)
      const released = [...moved.map((m) => m.li), ...removed].map((li) => ({ li, a: li.active()! }));
      const opened: { li: Listener; a: Acceptor }[] = [];
      const stoppedEarly: { li: Listener; a: Acceptor }[] = [];
      const undo = async () => {
        await Promise.all(opened.map(({ li, a }) => li.discard(a)));
        // give back what stopped early, on its old address
        for (const { li, a } of stoppedEarly) {
          const back = await li.open({ ...li.running.config, host: a.host, port: a.port });
          li.switchTo(back);
        }
      };
      const openFor = async (li: Listener, l: ListenerConfig) => {
        opened.push({ li, a: await li.open(l, tlsFiles.get(`${l.proto}:${l.name}`) ?? li.tls) });
      };
      const deferred: { li: Listener; l: ListenerConfig }[] = [];
      try {
        for (const item of [...moved, ...added]) {
          try {
            await openFor(item.li, item.l);
          } catch (err) {
            if (!(err instanceof ListenerError && err.code === 'EADDRINUSE' && released.some((r) => clashes(item.l, r.a)))) throw err;
            deferred.push(item);
          }
        }
        for (const item of deferred) {
          for (const r of released) {
            if (clashes(item.l, r.a) && !r.a.stopped) {
              r.li.stop(r.a);
              stoppedEarly.push(r);
            }
          }
          await openFor(item.li, item.l);
        }
      } catch (err) {
        await undo();
        throw err;
      }

      let done = false;
      return {
        commit({ closeRemovedClients }) {
          if (done) return;
          done = true;
          for (const { li, a } of opened) {
            li.update(wanted.get(li.running.id)!);
            li.tls = tlsFiles.get(li.running.id) ?? li.tls;
            li.switchTo(a);
            active.set(li.running.id, li);
          }
          for (const { li, l } of kept) {
            li.update(l);
            const files = tlsFiles.get(li.running.id);
            if (files && !sameTls(files, li.tls)) li.setTls(files);
          }
          for (const li of removed) {
            li.stopAccepting();
            active.delete(li.running.id);
            if (closeRemovedClients) {
              void li.close();
            } else {
              draining.add(li);
              forgetWhenEmpty(li);
            }
          }
          refreshRunning();
        },
        async abort() {
          if (done) return;
          done = true;
          await undo();
        },
      };
    },

    close: async () => {
      unsubscribe();
      await Promise.all(all().map((li) => li.close()));
      draining.clear();
    },
  };
}
