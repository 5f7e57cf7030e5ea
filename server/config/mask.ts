// Secrets never leave the process: any key that names a password, secret or token, at any depth,
// is masked, so a field added to Config later is masked too. GET /configs and the reload answer
// both use this.
const MASK = '******';
const SECRET_KEY = /pass(word)?$|passwd|secret|token|private_?key$|^authorization$|api[_-]?key$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function maskSecrets(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskSecrets(v, k);
    return out;
  }
  if (SECRET_KEY.test(key) && typeof value === 'string') return MASK;
  return value === undefined ? null : value;
}
