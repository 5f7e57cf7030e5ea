// Payload previews: the API sends base64; people read text, hex or base64.

export type PayloadView = 'plain' | 'hex' | 'base64';

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** "48 65 6c 6c 6f", 16 bytes per line */
export function toHex(bytes: Uint8Array, perLine = 16): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += perLine) {
    lines.push(Array.from(bytes.subarray(i, i + perLine), (b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n');
}

/** whether bytes are valid UTF-8 text without control characters other than tab/newline */
export function isPrintableText(bytes: Uint8Array): boolean {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text);
}

/** The view to show first: text when it is text, hex otherwise. */
export function defaultView(bytes: Uint8Array): PayloadView {
  return isPrintableText(bytes) ? 'plain' : 'hex';
}

/** Renders base64 payload bytes in a view; plain shows U+FFFD for invalid UTF-8, never throws. */
export function formatPayload(b64: string | null | undefined, view: PayloadView, maxBytes = 64 * 1024): { text: string; truncated: boolean } {
  if (b64 == null) return { text: '', truncated: false };
  let bytes = base64ToBytes(b64);
  const truncated = bytes.length > maxBytes;
  if (truncated) bytes = bytes.subarray(0, maxBytes);
  switch (view) {
    case 'hex':
      return { text: toHex(bytes), truncated };
    case 'base64':
      return { text: truncated ? bytesToBase64(bytes) : b64, truncated };
    default:
      return { text: new TextDecoder('utf-8').decode(bytes), truncated };
  }
}

/** UTF-8 text → base64 (publish form with encoding base64 takes the text as base64 already) */
export function textToBase64(text: string): string {
  return bytesToBase64(new TextEncoder().encode(text));
}

export function isBase64(s: string): boolean {
  return s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
}
