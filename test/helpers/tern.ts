// Starts the whole product in-process on port 0 for every listener, with its store in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// before mqtt.js, which loads mqtt-packet first otherwise: the tests run mqtt-packet as Tern does
import '../../server/broker/core/internals/mqtt-packet-debug.ts';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { defaultConfig } from '../../server/config/index.ts';
import type { Config } from '../../server/config/types.ts';
import { startTern, type Tern } from '../../server/tern.ts';

export function tempDir(prefix = 'tern-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The lines a test's emqx.conf starts with: its data dir under `dir`, no log output, every
 * listener on a port the kernel picks (what testConfig() sets in code); `extra` listeners too.
 */
export function baseConfLines(dir: string, extra: string[] = []): string[] {
  return [
    `node.data_dir = ${path.join(dir, 'data')}`,
    'log.level = silent',
    'listener.tcp.external = 127.0.0.1:0',
    'listener.tcp.internal = 127.0.0.1:0',
    'listener.ws.external = 127.0.0.1:0',
    ...extra,
    'dashboard.listener.http = 127.0.0.1:0',
  ];
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

type Received = { topic: string; payload: string; bytes: Buffer; qos: number; retain: boolean };

/** Every message a client made by `connect` received and no `nextMessages` has taken yet, plus
 *  the waiter for more. Recording starts before CONNECT: a resumed session's queue follows the
 *  CONNACK at once, often in the same read, and mqtt.js emits those messages before the code
 *  awaiting `connect` runs — a listener attached afterwards misses them. */
class Inbox {
  readonly unread: Received[] = [];
  wake: (() => void) | null = null;
  push(m: Received): void {
    this.unread.push(m);
    this.wake?.();
  }
}
const inboxes = new WeakMap<MqttClient, Inbox>();

/** Connects and resolves on CONNACK; rejects with the CONNACK return code or error. */
export function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    const inbox = new Inbox();
    inboxes.set(client, inbox);
    client.on('message', (topic, payload, packet) =>
      inbox.push({ topic, payload: payload.toString(), bytes: payload, qos: packet.qos, retain: packet.retain }),
    );
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

/** Resolves with the next `count` messages a client made by `connect` received (from its inbox:
 *  messages that arrived before this call and were not taken yet come first). */
export function nextMessages(client: MqttClient, count: number, timeoutMs = 5000): Promise<Received[]> {
  const inbox = inboxes.get(client);
  if (!inbox) throw new Error('nextMessages needs a client made by connect()');
  if (inbox.wake) throw new Error('nextMessages is already waiting on this client');
  return new Promise((resolve, reject) => {
    const take = (): boolean => {
      if (inbox.unread.length < count) return false;
      inbox.wake = null;
      clearTimeout(timer);
      resolve(inbox.unread.splice(0, count));
      return true;
    };
    const timer = setTimeout(() => {
      inbox.wake = null;
      reject(new Error(`timed out with ${inbox.unread.length}/${count} messages`));
    }, timeoutMs);
    if (!take()) inbox.wake = take;
  });
}

export async function endAll(...clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.map((c) => c?.endAsync(true)));
}
