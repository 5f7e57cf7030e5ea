// Helpers for the access tests: clients that connect from another loopback address (so
// {ipaddr, "127.0.0.1"} rules do not match them), and files in a temp dir.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import request from 'supertest';
import { tempDir } from './tern.ts';
import { bearer, login } from './api-helpers.ts';
import { startTern } from '../../server/tern.ts';
import type { Config } from '../../server/config/types.ts';

/** Connects from `localAddress` (e.g. 127.0.0.2, any of 127/8 is loopback on Linux); resolves on CONNACK. */
export function connectFrom(port: number, localAddress: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = new mqtt.MqttClient(() => net.connect({ host: '127.0.0.1', port, localAddress }), {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...opts,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** writes `text` to a fresh file and returns its path */
export function writeTemp(name: string, text: string): string {
  const file = path.join(tempDir('tern-access-'), name);
  fs.writeFileSync(file, text);
  return file;
}

/**
 * The granted QoS of each topic, one SUBSCRIBE per topic in order (128 = refused: mqtt.js rejects
 * a SUBACK holding 0x80, with the code on the error).
 */
export async function granted(client: MqttClient, topics: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const t of topics) {
    try {
      const [g] = await client.subscribeAsync(t);
      out.push(g!.qos);
    } catch (err) {
      const code = (err as { packet?: { granted?: number[] } }).packet?.granted?.[0];
      if (code === undefined) throw err;
      out.push(code);
    }
  }
  return out;
}

/** a mutable clock for tests that need time to pass */
export function testClock(start = Date.now()) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** Tern on port 0 with an injected clock and a fast ban sweep, logged in as the default admin. */
export async function startAccessTern(config: Config, clock: { now: () => number }, sweepMs = 20) {
  const tern = await startTern({ config, logger: pino({ level: 'silent' }), access: { now: clock.now, banSweepIntervalMs: sweepMs } });
  try {
    const http = request(`http://127.0.0.1:${tern.ports.http}`);
    const token = await login(http);
    return { tern, http, auth: bearer(token), close: () => tern.close() };
  } catch (err) {
    await tern.close();
    throw err;
  }
}
