// Starts the whole product in-process on port 0 for every listener, with its store in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { defaultConfig } from '../../server/config/index.ts';
import type { Config } from '../../server/config/types.ts';
import { startTern, type Tern } from '../../server/tern.ts';

export function tempDir(prefix = 'tern-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** defaults with every port 0, loopback only, data in a fresh temp dir */
export function testConfig(mutate?: (c: Config) => void): Config {
  const c = defaultConfig();
  c.node.data_dir = tempDir();
  c.log.level = 'silent';
  for (const l of c.listeners) {
    l.host = '127.0.0.1';
    l.port = 0;
  }
  c.dashboard.listener = { host: '127.0.0.1', port: 0 };
  mutate?.(c);
  return c;
}

export async function startTestTern(config: Config = testConfig()): Promise<Tern> {
  return startTern({ config, logger: pino({ level: process.env.TERN_TEST_LOG ?? 'silent' }) });
}

/** Connects and resolves on CONNACK; rejects with the CONNACK return code or error. */
export function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

export function tcpUrl(tern: Tern, name = 'external'): string {
  return `mqtt://127.0.0.1:${tern.ports.tcp[name]}`;
}

export function wsUrl(tern: Tern, name = 'external'): string {
  return `ws://127.0.0.1:${tern.ports.ws[name]}/mqtt`;
}

/** Resolves with the next `count` messages a client receives. */
export function nextMessages(
  client: MqttClient,
  count: number,
  timeoutMs = 5000,
): Promise<{ topic: string; payload: string; qos: number; retain: boolean }[]> {
  return new Promise((resolve, reject) => {
    const got: { topic: string; payload: string; qos: number; retain: boolean }[] = [];
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`timed out with ${got.length}/${count} messages`));
    }, timeoutMs);
    function onMessage(topic: string, payload: Buffer, packet: { qos: number; retain: boolean }) {
      got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain });
      if (got.length === count) {
        clearTimeout(timer);
        client.off('message', onMessage);
        resolve(got);
      }
    }
    client.on('message', onMessage);
  });
}

export async function endAll(...clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.map((c) => c?.endAsync(true)));
}
