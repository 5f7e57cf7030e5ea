// A raw TCP peer for protocol tests: sends exact bytes, collects the packets the broker answers
// and tells when the broker closed the connection. Every wait ends on an event (a packet, the
// close); the timeout only turns a broker that never answers into a clear failure.
import net from 'node:net';
import mqttPacket from 'mqtt-packet';

export interface RawResult {
  packets: mqttPacket.Packet[];
  closed: boolean;
}

/** Hand-built CONNECT, so tests can send what mqtt.js refuses to. */
export function connectBytes(o: { name?: string; level?: number; flags?: number; clientId?: string; tail?: Buffer } = {}): Buffer {
  const name = Buffer.from(o.name ?? 'MQTT');
  const cid = Buffer.from(o.clientId ?? 'raw');
  const body = Buffer.concat([
    Buffer.from([0, name.length]),
    name,
    Buffer.from([o.level ?? 4, o.flags ?? 0x02, 0, 60, cid.length >> 8, cid.length & 0xff]),
    cid,
    o.tail ?? Buffer.alloc(0),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

export interface RawPeer {
  /** every packet received so far, in order */
  readonly packets: mqttPacket.Packet[];
  /** whether the broker (or an error) closed the connection */
  readonly closed: boolean;
  send(bytes: Buffer): void;
  /** mqtt-packet generates the bytes */
  sendPacket(packet: mqttPacket.Packet): void;
  /** the first packet received since the last next() (or ever) that matches; waits for it */
  next(match: (p: mqttPacket.Packet) => boolean, what: string, timeoutMs?: number): Promise<mqttPacket.Packet>;
  /** resolves when the connection is closed */
  whenClosed(timeoutMs?: number): Promise<void>;
  /** stops reading: what the broker sends backs up in the socket buffers */
  pause(): void;
  destroy(): void;
}

/** Opens a TCP connection; resolves once it is established. */
export function openRaw(port: number, host = '127.0.0.1'): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const packets: mqttPacket.Packet[] = [];
    let read = 0;
    let closed = false;
    const wakers = new Set<() => void>();
    const wake = () => {
      for (const w of [...wakers]) w();
    };
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      packets.push(p);
      wake();
    });
    const socket = net.connect(port, host);
    socket.on('data', (d) => parser.parse(d));
    socket.on('close', () => {
      closed = true;
      wake();
    });
    socket.on('error', () => socket.destroy());

    function wait<T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
      return new Promise((res, rej) => {
        const done = (): boolean => {
          const v = check();
          if (v === undefined) return false;
          wakers.delete(tryIt);
          clearTimeout(timer);
          res(v);
          return true;
        };
        const tryIt = () => {
          if (!done() && closed) {
            wakers.delete(tryIt);
            clearTimeout(timer);
            rej(new Error(`connection closed while waiting for ${what}; received ${packets.map((p) => p.cmd).join(',') || 'nothing'}`));
          }
        };
        const timer = setTimeout(() => {
          wakers.delete(tryIt);
          rej(new Error(`timed out waiting for ${what}; received ${packets.map((p) => p.cmd).join(',') || 'nothing'}`));
        }, timeoutMs);
        wakers.add(tryIt);
        tryIt();
      });
    }

    const peer: RawPeer = {
      packets,
      get closed() {
        return closed;
      },
      send(bytes) {
        socket.write(bytes);
      },
      sendPacket(packet) {
        socket.write(mqttPacket.generate(packet));
      },
      next(match, what, timeoutMs = 5000) {
        return wait(
          () => {
            for (let i = read; i < packets.length; i++) {
              if (match(packets[i]!)) {
                read = i + 1;
                return packets[i]!;
              }
            }
            return undefined;
          },
          what,
          timeoutMs,
        );
      },
      whenClosed(timeoutMs = 5000) {
        return new Promise((res, rej) => {
          if (closed) return res();
          const timer = setTimeout(() => {
            wakers.delete(onClose);
            rej(new Error(`timed out waiting for the broker to close; received ${packets.map((p) => p.cmd).join(',') || 'nothing'}`));
          }, timeoutMs);
          const onClose = () => {
            if (!closed) return;
            wakers.delete(onClose);
            clearTimeout(timer);
            res();
          };
          wakers.add(onClose);
        });
      },
      pause() {
        socket.pause();
      },
      destroy() {
        socket.destroy();
      },
    };
    socket.once('connect', () => resolve(peer));
    socket.once('error', reject);
  });
}

/**
 * Sends the bytes at once, then waits for what the test needs: the CONNACK (an accepted
 * CONNECT: the broker keeps the connection open, so waiting for a close would only wait out a
 * timer), or the broker's close (a refusal or a protocol violation). The connection is closed on
 * return.
 */
export async function rawExchange(port: number, bytes: Buffer[], until: 'connack' | 'close', timeoutMs = 5000): Promise<RawResult> {
  const peer = await openRaw(port);
  try {
    for (const b of bytes) peer.send(b);
    if (until === 'connack') await peer.next((p) => p.cmd === 'connack', 'CONNACK', timeoutMs);
    else await peer.whenClosed(timeoutMs);
    return { packets: [...peer.packets], closed: peer.closed };
  } finally {
    peer.destroy();
  }
}
