// A request's body as bytes, on the delivery thread. A high-rate hook's events are
// message.publish events read in place from their blocks (block.ts): their stored meta is JSON
// (pack.ts), so the body is spliced from its bytes straight into the request's buffer, with no
// string made per event and no encoding of the whole body to UTF-8 afterwards (together about
// half of the thread's time per event at a flood's rate). Any other event goes through
// formatRow (format.ts) and is written as its text. Both give the same bytes (a unit test
// compares them).
import type { Hook } from './types.ts';
import { blockRow } from './block.ts';
import { formatRow } from './format.ts';
import { isBlockEvent, jsonString, plainJsonByte, type QueuedEvent } from './pack.ts';

const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const PUBLISH_META = ascii('["message.publish",');
// the body's fields in formatRow's order, each after the stored field it takes (see #publish)
const FROM_CLIENT_ID = ascii(',"from_client_id":');
const FROM_USERNAME = ascii(',"from_username":');
const TOPIC = ascii(',"topic":');
const QOS = ascii(',"qos":');
const RETAIN = ascii(',"retain":');
const PAYLOAD = ascii(',"payload":');
const TS = ascii(',"ts":');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

type BodyHook = Pick<Hook, 'batch_size' | 'payload_encoding'>;

export class BodyWriter {
  #buf = Buffer.allocUnsafe(64 * 1024);
  #len = 0;
  #node = '';
  #head: Uint8Array = ascii('');
  /** start and end byte of each stored field of the meta being spliced */
  readonly #fields = new Int32Array(16);

  /** the body of these events: one JSON object, or an array of them when the hook batches */
  body(events: QueuedEvent[], hook: BodyHook, node: string): Buffer {
    if (node !== this.#node) {
      this.#node = node;
      this.#head = Buffer.from(`{"action":"message_publish","node":${JSON.stringify(node)},"id":`);
    }
    this.#len = 0;
    const batch = hook.batch_size > 1;
    if (batch) this.#byte(0x5b);
    for (let i = 0; i < events.length; i++) {
      if (i > 0) this.#byte(COMMA);
      const e = events[i]!;
      if (!(isBlockEvent(e) && this.#publish(e.src, e.at, hook.payload_encoding))) {
        this.#text(formatRow(isBlockEvent(e) ? blockRow(e) : e, node, hook.payload_encoding));
      }
    }
    if (batch) this.#byte(0x5d);
    // a copy: the buffer is the next body's
    return Buffer.from(this.#buf.subarray(0, this.#len));
  }

  /**
   * A stored message.publish event's body, spliced from its meta
   * [name, id, ts, topic, qos, retain, from_clientid, from_username]; false (nothing written)
   * for any other event.
   */
  #publish(src: Buffer, at: number, enc: BodyHook['payload_encoding']): boolean {
    const mlen = src.readUInt32LE(at);
    const m0 = at + 4;
    if (mlen < PUBLISH_META.length || src.compare(PUBLISH_META, 0, PUBLISH_META.length, m0, m0 + PUBLISH_META.length) !== 0) return false;
    const f = this.#fields;
    // the elements' byte ranges: a comma outside a string ends one (UTF-8 continuation bytes are
    // never a quote, backslash or comma)
    let n = 0;
    let start = m0 + 1;
    const end = m0 + mlen - 1;
    for (let i = start; i < end; i++) {
      const c = src[i]!;
      if (c === QUOTE) {
        for (i++; i < end && src[i] !== QUOTE; i++) if (src[i] === BACKSLASH) i++;
      } else if (c === COMMA) {
        f[2 * n] = start;
        f[2 * n + 1] = i;
        n++;
        start = i + 1;
      }
    }
    f[2 * n] = start;
    f[2 * n + 1] = end;
    if (n < 7) return false;
    const plen = src.readInt32LE(m0 + mlen);
    const p = m0 + mlen + 4;
    this.#room(this.#head.length + mlen + 128 + (plen > 0 ? 6 * plen : 0));
    this.#bytes(this.#head);
    this.#copy(src, f[2]!, f[3]!); // id
    this.#bytes(FROM_CLIENT_ID);
    this.#copy(src, f[12]!, f[13]!);
    this.#bytes(FROM_USERNAME);
    this.#copy(src, f[14]!, f[15]!);
    this.#bytes(TOPIC);
    this.#copy(src, f[6]!, f[7]!);
    this.#bytes(QOS);
    this.#copy(src, f[8]!, f[9]!);
    this.#bytes(RETAIN);
    this.#copy(src, f[10]!, f[11]!);
    this.#bytes(PAYLOAD);
    this.#payload(src, p, Math.max(0, plen), enc);
    this.#bytes(TS);
    this.#copy(src, f[4]!, f[5]!);
    this.#byte(0x7d);
    return true;
  }

  /** the payload as a JSON string: printable ASCII needing no escape as it is, else as formatRow quotes it */
  #payload(src: Buffer, p: number, plen: number, enc: BodyHook['payload_encoding']): void {
    if (enc === 'plain') {
      let plain = true;
      for (let i = p; i < p + plen; i++) {
        if (!plainJsonByte(src[i]!)) {
          plain = false;
          break;
        }
      }
      if (plain) {
        this.#byte(QUOTE);
        this.#copy(src, p, p + plen);
        this.#byte(QUOTE);
        return;
      }
    }
    const view = src.subarray(p, p + plen);
    this.#text(jsonString(enc === 'base64' ? view.toString('base64') : view.toString('utf8')));
  }

  #text(s: string): void {
    this.#room(3 * s.length);
    this.#len += this.#buf.write(s, this.#len, 'utf8');
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.#buf.copy(b, 0, 0, this.#len);
    this.#buf = b;
  }

  #byte(c: number): void {
    this.#room(1);
    this.#buf[this.#len++] = c;
  }

  // (callers made room) short ranges by hand: a native copy's call costs more than the bytes
  #bytes(b: Uint8Array): void {
    const buf = this.#buf;
    let o = this.#len;
    for (let i = 0; i < b.length; i++) buf[o++] = b[i]!;
    this.#len = o;
  }

  #copy(src: Buffer, a: number, z: number): void {
    if (z - a > 64) {
      this.#len += src.copy(this.#buf, this.#len, a, z);
      return;
    }
    const buf = this.#buf;
    let o = this.#len;
    for (let i = a; i < z; i++) buf[o++] = src[i]!;
    this.#len = o;
  }
}
