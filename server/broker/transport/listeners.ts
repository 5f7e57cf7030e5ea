// Opens the MQTT listeners (tcp, ssl, ws, wss) and hands every accepted stream to aedes with the
// listener's zone attached. A port that cannot be bound is a start-up error naming the listener.
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
import { accessCheck, limitConnectWait, packetSizeLimiter, limitSubscribeQos } from '../protocol/limits.ts';
import { createWriteBatcher, type WriteBatcher } from './write-batcher.ts';

export class ListenerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenerError';
  }
}

export interface RunningListener {
  config: ListenerConfig;
  id: string;
  port: number;
  host: string;
  /** live transport sockets (the TCP socket under TLS or WebSocket too) */
  sockets: Set<net.Socket>;
  closedBytes: { received: number; sent: number };
  close(): Promise<void>;
}

export interface Listeners {
  running: RunningListener[];
  status(): ListenerStatus[];
  /** bytes read from and written to client sockets since start */
  bytes(): { received: number; sent: number };
  /** the bound port of "<proto>:<name>" */
  port(id: string): number | undefined;
  close(): Promise<void>;
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

function readTlsFiles(l: ListenerConfig): tls.SecureContextOptions {
  const read = (what: string, file: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new ListenerError(`listener ${l.proto}.${l.name}: cannot read ${what} ${file}: ${(err as Error).message}`);
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
      reject(new ListenerError(`listener ${l.proto}.${l.name} cannot bind ${l.host}:${l.port}: ${what}`));
    };
    server.once('error', onError);
    server.listen(l.port, l.host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

async function startOne(l: ListenerConfig, config: ConfigSource, aedes: AedesBroker, batcher: WriteBatcher, log: Logger): Promise<RunningListener> {
  const id = `${l.proto}:${l.name}`;
  const allowRate = rateGate(l.max_conn_rate);
  const allowAddress = accessCheck(l);
  const limitPacketSize = packetSizeLimiter(aedes, config.get().mqtt.max_packet_size);
  const running: RunningListener = {
    config: l,
    id,
    port: 0,
    host: l.host,
    sockets: new Set(),
    closedBytes: { received: 0, sent: 0 },
    close: async () => {},
  };

  // Returns false when the listener is full or over its rate: the caller drops the connection.
  // The peer address is read only when access rules need it: reading it costs a getpeername
  // syscall and an address object kept on the socket for its lifetime.
  const admit = (socket: net.Socket): boolean => {
    if (allowAddress && !allowAddress(socket.remoteAddress)) return false;
    if (!allowRate()) return false;
    if (l.max_connections > 0 && running.sockets.size >= l.max_connections) return false;
    return true;
  };
  // one function for every connection of this listener (no closure per connection)
  function onTransportClose(this: net.Socket) {
    running.sockets.delete(this);
    running.closedBytes.received += this.bytesRead;
    running.closedBytes.sent += this.bytesWritten;
  }
  const handle = (stream: Duplex, transport: net.Socket, req?: http.IncomingMessage) => {
    running.sockets.add(transport);
    // `on`, not `once`: a socket closes once, and once() would cost a wrapper per connection
    transport.on('close', onTransportClose);
    // TCP and TLS only: aedes' close after a refusing CONNACK destroys a WebSocket stream at once,
    // so a frame still corked in the socket below it would be lost
    if (stream === transport) batcher.attach(transport);
    const client = aedes.handle(stream, req) as AedesClient;
    client.tern = new SessionRecord(l.zone, id, client);
    const c = config.get();
    limitPacketSize(client);
    limitSubscribeQos(client, c.mqtt.max_qos_allowed);
    limitConnectWait(client, (c.zones[l.zone] ?? c.zones.external!).idle_timeout);
  };

  let server: net.Server;
  let wss: WebSocketServer | undefined;
  // TCP_NODELAY, as EMQX sets it: on the listening socket when accepted sockets inherit it
  let noDelayInherited = false;
  if (l.proto === 'tcp' || l.proto === 'ssl') {
    const onSocket = (socket: net.Socket) => {
      if (!admit(socket)) return socket.destroy();
      if (!noDelayInherited) socket.setNoDelay(true);
      handle(socket, socket);
    };
    server =
      l.proto === 'tcp'
        ? net.createServer(onSocket)
        : tls.createServer(readTlsFiles(l), onSocket as (s: tls.TLSSocket) => void);
    // A TLS handshake failure is that one client's problem.
    server.on('tlsClientError', (err: Error) => log.debug({ listener: id, err: err.message }, 'TLS handshake failed'));
  } else {
    server = l.proto === 'ws' ? http.createServer() : https.createServer(readTlsFiles(l));
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to ' + l.mqtt_path);
    });
    wss = new WebSocketServer({
      server: server as http.Server,
      path: l.mqtt_path,
      // Browsers and mqtt.js offer "mqtt" (3.1.1) or "mqttv3.1"; echo what they ask for.
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      verifyClient: (info: { req: http.IncomingMessage }) => admit(info.req.socket),
    });
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => stream.destroy());
      handle(stream, req.socket, req);
    });
  }
  server.on('error', (err) => log.error({ listener: id, err: err.message }, 'listener error'));

  running.port = await listen(server, l);
  if (l.proto === 'tcp' || l.proto === 'ssl') noDelayInherited = noDelayOnListener(server);
  running.close = () =>
    new Promise<void>((resolve) => {
      wss?.close();
      server.close(() => resolve());
      for (const s of running.sockets) s.destroy();
    });
  log.info({ listener: id, bind: `${l.host}:${running.port}`, zone: l.zone }, 'listening');
  return running;
}

export async function startListeners(deps: { config: ConfigSource; aedes: AedesBroker; logger: Logger }): Promise<Listeners> {
  const log = deps.logger.child({ module: 'listeners' });
  const running: RunningListener[] = [];
  const batcher = createWriteBatcher();
  try {
    for (const l of deps.config.get().listeners) {
      if ((l.proto === 'ssl' || l.proto === 'wss') && !(l.keyfile && l.certfile)) {
        log.info({ listener: `${l.proto}:${l.name}` }, 'TLS listener not started: keyfile and certfile are not configured');
        continue;
      }
      running.push(await startOne(l, deps.config, deps.aedes, batcher, log));
    }
  } catch (err) {
    await Promise.all(running.map((r) => r.close()));
    throw err;
  }
  return {
    running,
    port: (id) => running.find((r) => r.id === id)?.port,
    bytes: () => {
      let received = 0;
      let sent = 0;
      for (const r of running) {
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
      running.map((r) => ({
        id: r.id,
        type: r.config.proto,
        name: r.config.name,
        bind: `${r.host}:${r.port}`,
        zone: r.config.zone,
        running: true,
        current_connections: r.sockets.size,
        max_connections: r.config.max_connections,
      })),
    close: async () => {
      await Promise.all(running.map((r) => r.close()));
    },
  };
}
