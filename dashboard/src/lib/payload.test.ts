import { describe, expect, it } from 'vitest';
import { base64ToBytes, bytesToBase64, defaultView, formatPayload, isBase64, isPrintableText, textToBase64, toHex } from './payload.ts';

const b64 = (bytes: number[]) => bytesToBase64(new Uint8Array(bytes));

describe('payload formatting', () => {
  it('shows UTF-8 text as text, hex and base64', () => {
    const p = textToBase64('héllo');
    expect(formatPayload(p, 'plain').text).toBe('héllo');
    expect(formatPayload(p, 'hex').text).toBe('68 c3 a9 6c 6c 6f');
    expect(formatPayload(p, 'base64').text).toBe('aMOpbGxv');
  });

  it('breaks hex into lines of 16 bytes', () => {
    const bytes = new Uint8Array(20).map((_, i) => i);
    expect(toHex(bytes).split('\n')).toEqual(['00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f', '10 11 12 13']);
  });

  it('picks hex first for binary and plain for text', () => {
    expect(defaultView(base64ToBytes(b64([0, 1, 2, 255])))).toBe('hex');
    expect(defaultView(new TextEncoder().encode('{"t": 21.5}\n'))).toBe('plain');
    expect(isPrintableText(new Uint8Array([0xc3]))).toBe(false);
  });

  it('never throws on invalid UTF-8 and marks replaced bytes', () => {
    expect(formatPayload(b64([0x61, 0xff, 0x62]), 'plain').text).toBe('a\ufffdb');
  });

  it('truncates very large payloads and says so', () => {
    const big = b64(Array.from({ length: 100 }, () => 0x41));
    const r = formatPayload(big, 'base64', 10);
    expect(r.truncated).toBe(true);
    expect(base64ToBytes(r.text)).toHaveLength(10);
    expect(formatPayload(big, 'plain', 10).text).toBe('A'.repeat(10));
  });

  it('treats an empty or missing payload as empty', () => {
    expect(formatPayload('', 'hex')).toEqual({ text: '', truncated: false });
    expect(formatPayload(null, 'plain')).toEqual({ text: '', truncated: false });
  });

  it('round-trips bytes through base64, also beyond one chunk', () => {
    const bytes = new Uint8Array(70_000).map((_, i) => i % 251);
    expect(base64ToBytes(bytesToBase64(bytes))).toEqual(bytes);
  });

  it('recognises base64 input of the publish form', () => {
    expect(isBase64('aGk=')).toBe(true);
    expect(isBase64('not base64!')).toBe(false);
    expect(isBase64('abc')).toBe(false);
  });
});
