// Event -> webhook body, EMQX 4's emqx_web_hook shapes: `action` names the event
// (client_connected, message_publish, ...), every body carries `node`, and Tern adds the event's
// `id` (unique across restarts, for receivers to deduplicate). EMQX 4 had no web hook bodies for
// client.authenticate, client.check_acl and session.created/resumed/discarded/takeovered; Tern's
// follow the same conventions (clientid, username, then the event's own fields). Times are ms.
import type { TernEvent, TernEventName } from '../broker/events.ts';
import type { PayloadEncoding } from './types.ts';
import { asBuffer, jsonString as q, unpackEvent, type StoredEvent } from './pack.ts';

type Body = Record<string, unknown>;

/** EMQX 4's names of MQTT 3.1.1 CONNACK codes (emqx_reason_codes, as its web hook sent them). */
const CONNACK_NAMES = [
  'success',
  'unsupported_protocol_version',
  'client_identifier_not_valid',
  'server_unavailable',
  'bad_username_or_password',
  'not_authorized',
];

export const actionOf = (event: TernEventName): string => event.replace('.', '_');

const payloadOf = (p: Buffer, enc: PayloadEncoding): string => (enc === 'base64' ? p.toString('base64') : p.toString('utf8'));

type AnyEvent = TernEvent<TernEventName>;
type Formatter = (e: never, enc: PayloadEncoding) => Body;

function message(e: TernEvent<'message.publish'>, enc: PayloadEncoding): Body {
  return {
    from_client_id: e.from_clientid,
    from_username: e.from_username,
    topic: e.topic,
    qos: e.qos,
    retain: e.retain,
    payload: payloadOf(e.payload, enc),
    ts: e.ts,
  };
}

const FORMATTERS: { [K in TernEventName]: (e: TernEvent<K>, enc: PayloadEncoding) => Body } = {
  'client.connect': (e) => ({
    clientid: e.clientid,
    username: e.username,
    ipaddress: e.ipaddress,
    keepalive: e.keepalive,
    proto_ver: e.proto_ver,
  }),
  'client.connack': (e) => ({
    clientid: e.clientid,
    username: e.username,
    ipaddress: e.ipaddress,
    keepalive: e.keepalive,
    proto_ver: e.proto_ver,
    conn_ack: CONNACK_NAMES[e.conn_ack] ?? String(e.conn_ack),
  }),
  'client.connected': (e) => ({
    clientid: e.clientid,
    username: e.username,
    ipaddress: e.ipaddress,
    keepalive: e.keepalive,
    proto_ver: e.proto_ver,
    connected_at: e.connected_at,
  }),
  'client.disconnected': (e) => ({
    clientid: e.clientid,
    username: e.username,
    reason: e.reason,
    connected_at: e.connected_at,
    disconnected_at: e.disconnected_at,
  }),
  'client.authenticate': (e) => ({
    clientid: e.clientid,
    username: e.username,
    ipaddress: e.ipaddress,
    result: e.result,
    via: e.via,
    is_superuser: e.is_superuser,
  }),
  'client.check_acl': (e) => ({
    clientid: e.clientid,
    username: e.username,
    ipaddress: e.ipaddress,
    access: e.action,
    topic: e.topic,
    result: e.result,
  }),
  'client.subscribe': (e) => ({ clientid: e.clientid, username: e.username, topic: e.topic, opts: { qos: e.opts.qos } }),
  'client.unsubscribe': (e) => ({ clientid: e.clientid, username: e.username, topic: e.topic, opts: {} }),
  'session.created': (e) => ({ clientid: e.clientid, username: e.username, clean_start: e.clean_start, created_at: e.created_at }),
  'session.resumed': (e) => ({ clientid: e.clientid, username: e.username }),
  'session.subscribed': (e) => ({ clientid: e.clientid, username: e.username, topic: e.topic, opts: { qos: e.opts.qos } }),
  'session.unsubscribed': (e) => ({ clientid: e.clientid, username: e.username, topic: e.topic }),
  'session.takeovered': (e) => ({ clientid: e.clientid, username: e.username }),
  'session.discarded': (e) => ({ clientid: e.clientid, username: e.username }),
  'session.terminated': (e) => ({ clientid: e.clientid, username: e.username, reason: e.reason }),
  'message.publish': message,
  'message.delivered': (e, enc) => ({ clientid: e.clientid, username: e.username, ...message(e, enc) }),
  'message.acked': (e, enc) => ({ clientid: e.clientid, username: e.username, ...message(e, enc) }),
  'message.dropped': (e, enc) => ({ clientid: e.clientid, ...message(e, enc), reason: e.reason }),
};

/** The JSON body of one event. */
export function formatEvent(name: TernEventName, event: AnyEvent, node: string, enc: PayloadEncoding): string {
  const fields = (FORMATTERS[name] as Formatter)(event as never, enc);
  return JSON.stringify({ action: actionOf(name), node, id: event.id, ...fields });
}

/** A made-up event of each kind for POST /hooks/{id}/test. */
export function sampleEvent(name: TernEventName): AnyEvent {
  const now = Date.now();
  const client = { clientid: 'tern-test-client', username: null };
  const conn = { ...client, ipaddress: '127.0.0.1', keepalive: 60, proto_name: 'MQTT', proto_ver: 4, clean_start: true, zone: 'external', listener: 'tcp:external' };
  const msg = { topic: 'tern/test', qos: 0 as const, retain: false, payload: Buffer.from('hello'), from_clientid: 'tern-test-client', from_username: null, ts: now };
  const samples: { [K in TernEventName]: Omit<TernEvent<K>, 'id' | 'ts'> & { ts?: number } } = {
    'client.connect': conn,
    'client.connack': { ...conn, conn_ack: 0, reason: null },
    'client.connected': { ...conn, port: 50000, expiry_interval: 0, connected_at: now },
    'client.disconnected': { ...client, reason: 'normal', connected_at: now, disconnected_at: now, ipaddress: '127.0.0.1' },
    'client.authenticate': { ...client, ipaddress: '127.0.0.1', zone: 'external', result: 'success', via: 'anonymous', is_superuser: false },
    'client.check_acl': { ...client, ipaddress: '127.0.0.1', action: 'publish', topic: 'tern/test', result: 'allow', source: 'nomatch' },
    'client.subscribe': { ...client, topic: 'tern/test', opts: { qos: 0 } },
    'client.unsubscribe': { ...client, topic: 'tern/test' },
    'session.created': { ...client, clean_start: true, created_at: now },
    'session.resumed': client,
    'session.subscribed': { ...client, topic: 'tern/test', opts: { qos: 0 } },
    'session.unsubscribed': { ...client, topic: 'tern/test' },
    'session.takeovered': client,
    'session.discarded': client,
    'session.terminated': { ...client, reason: 'normal' },
    'message.publish': msg,
    'message.delivered': { ...msg, ...client },
    'message.acked': { ...msg, ...client },
    'message.dropped': { ...msg, reason: 'no_subscribers', clientid: null },
  };
  return { ts: now, ...samples[name], id: `test-${now.toString(36)}` } as AnyEvent;
}

/** The topic of a message.* event (the only ones topic filters apply to), else undefined. */
export function messageTopic(name: TernEventName, event: AnyEvent): string | undefined {
  return name.startsWith('message.') ? (event as TernEvent<'message.publish'>).topic : undefined;
}

const J = JSON.stringify;
let publishHead = { node: '', text: '' };
const fields: string[] = [];

/**
 * The elements of a stored meta array (pack.ts), each as its JSON text. They were written as
 * JSON, so a body is spliced from them rather than parsed and quoted again (twice the work, for
 * every event a high-rate hook sends). The elements are strings, numbers, booleans and nulls:
 * a comma outside a string ends one. The array returned is reused by the next call.
 */
function metaFields(meta: string): string[] {
  fields.length = 0;
  let start = 1;
  const end = meta.length - 1;
  for (let i = 1; i < end; i++) {
    const c = meta.charCodeAt(i);
    if (c === 34) {
      // a string: to its closing quote, stepping over escapes
      for (i++; meta.charCodeAt(i) !== 34; i++) if (meta.charCodeAt(i) === 92) i++;
    } else if (c === 44) {
      fields.push(meta.slice(start, i));
      start = i + 1;
    }
  }
  fields.push(meta.slice(start, end));
  return fields;
}

/**
 * The body of a stored outbox row. message.publish, the event of high-rate hooks, is written
 * straight from the stored array: the same text formatEvent gives (a unit test compares them)
 * without building the event and its body as objects first. Rows of the first layout (0010)
 * kept their formatted body.
 */
export function formatRow(row: StoredEvent & { body?: string | null }, node: string, enc: PayloadEncoding): string {
  if (row.body) return row.body;
  if (row.meta.startsWith('["message.publish",')) {
    const f = metaFields(row.meta);
    if (publishHead.node !== node) publishHead = { node, text: `{"action":"message_publish","node":${J(node)},"id":` };
    const payload = row.payload ? payloadOf(asBuffer(row.payload), enc) : '';
    return `${publishHead.text}${f[1]},"from_client_id":${f[6]},"from_username":${f[7]},"topic":${f[3]},"qos":${f[4]},"retain":${f[5]},"payload":${q(payload)},"ts":${f[2]}}`;
  }
  const [name, event] = unpackEvent(row);
  return formatEvent(name, event, node, enc);
}
