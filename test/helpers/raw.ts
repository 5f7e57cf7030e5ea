// A raw TCP peer for protocol tests: sends exact bytes, collects the packets the broker answers
// and reports whether the broker closed the connection.
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

/** Sends each buffer `gapMs` after the previous one (0: all at once). */
export function rawExchange(port: number, bytes: Buffer[], waitMs = 1500, gapMs = 0): Promise<RawResult> {
  return new Promise((resolve) => {
    const packets: mqttPacket.Packet[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => packets.push(p));
    const socket = net.connect(port, '127.0.0.1', () => {
      bytes.forEach((b, i) => (gapMs > 0 && i > 0 ? setTimeout(() => socket.writable && socket.write(b), i * gapMs) : socket.write(b)));
    });
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ packets, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d) => parser.parse(d));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}
