// MQTT 3.1.1 on the wire for the load generator: packets built once with mqtt-packet, incoming
// bytes framed by hand (no packet objects per message), and a client that resolves on CONNACK.

import net from 'node:net';
import mqttPacket from 'mqtt-packet';

// ---- packets -------------------------------------------------------------------------------------

export function connectPacket(clientId: string, keepalive: number, clean: boolean): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean, keepalive });
}

export function subscribePacket(topic: string, qos: 0 | 1): Buffer {
  return mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] });
}

export function publishPacket(topic: string, qos: 0 | 1, payload: Buffer, messageId: number): Buffer {
  return mqttPacket.generate({ cmd: 'publish', topic, payload, qos, retain: false, dup: false, messageId: qos > 0 ? messageId : undefined });
}

export const DISCONNECT_PACKET = Buffer.from([0xe0, 0x00]);

/** offset of the 2-byte message id (QoS 1) and of the payload inside a PUBLISH built above */
export function publishOffsets(packet: Buffer): { id: number; payload: number } {
  let i = 1;
  while (packet[i]! & 0x80) i++;
  const varStart = i + 1;
  const topicLen = packet.readUInt16BE(varStart);
  const afterTopic = varStart + 2 + topicLen;
  const qos = (packet[0]! >> 1) & 3;
  return { id: afterTopic, payload: qos > 0 ? afterTopic + 2 : afterTopic };
}

// ---- framing -------------------------------------------------------------------------------------

/**
 * Splits a byte stream into MQTT packets and calls onPacket(firstByte, buf, bodyStart, bodyEnd)
 * for each, then onChunkEnd() once per data event (where batched replies are flushed).
 */
export function attachFramer(
  sock: net.Socket,
  onPacket: (b0: number, buf: Buffer, start: number, end: number) => void,
  onChunkEnd?: () => void,
): void {
  let rest: Buffer | null = null;
  sock.on('data', (chunk: Buffer) => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    rest = null;
    const len = buf.length;
    let pos = 0;
    while (pos < len) {
      if (pos + 2 > len) break;
      let rl = 0;
      let mul = 1;
      let i = pos + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < len; k++, i++) {
        const b = buf[i]!;
        rl += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete || i + rl > len) break;
      onPacket(buf[pos]!, buf, i, i + rl);
      pos = i + rl;
    }
    if (pos < len) rest = buf.subarray(pos);
    if (onChunkEnd) onChunkEnd();
  });
}

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBACK = 9;

export interface ClientOptions {
  host: string;
  port: number;
  clientId: string;
  keepalive: number;
  clean: boolean;
  /** every packet after the CONNACK */
  onPacket: (b0: number, buf: Buffer, start: number, end: number) => void;
  /** after each data event: flush replies batched by onPacket */
  onChunkEnd?: () => void;
  /** an error or a close after the CONNACK */
  onLost: (why: string) => void;
}

/** Opens a socket, sends CONNECT, resolves on CONNACK 0; rejects on anything else. */
export function openClient(o: ClientOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: o.host, port: o.port });
    sock.setNoDelay(true);
    let connected = false;
    sock.on('connect', () => sock.write(connectPacket(o.clientId, o.keepalive, o.clean)));
    attachFramer(
      sock,
      (b0, buf, start, end) => {
        if (connected) return o.onPacket(b0, buf, start, end);
        if (b0 >> 4 !== CONNACK) return reject(new Error(`${o.clientId}: expected CONNACK, got packet type ${b0 >> 4}`));
        const rc = buf[start + 1];
        if (rc !== 0) return reject(new Error(`${o.clientId}: CONNACK return code ${rc}`));
        connected = true;
        resolve(sock);
      },
      () => {
        if (connected && o.onChunkEnd) o.onChunkEnd();
      },
    );
    sock.on('error', (err) => {
      if (!connected) reject(err);
      else o.onLost(`${o.clientId}: ${err.message}`);
    });
    sock.on('close', () => {
      if (!connected) reject(new Error(`${o.clientId}: closed before CONNACK`));
      else o.onLost(`${o.clientId}: connection closed by the broker`);
    });
  });
}
