import { describe, expect, it } from 'vitest';
import { configRows, sourceLabel } from './config-rows.ts';

describe('config rows', () => {
  it('gives each value its source; listeners by proto.name; an array of objects takes the source of the array', () => {
    const rows = configRows({
      node: { name: 'n@h' },
      listeners: [{ proto: 'tcp', name: 'external', port: 1883 } as never],
      auth: { users: [{ username: 'u', password: '******' }] },
      zones: { external: { allow_anonymous: false, idle_timeout: 15000 } },
      overrides: { 'zones.external.allow_anonymous': false },
      sources: {
        'node.name': { source: 'file', where: 'emqx.conf:3' },
        'listeners.tcp.external.port': { source: 'env', where: 'EMQX_LISTENER__TCP__EXTERNAL' },
        'auth.users': { source: 'file', where: 'emqx.conf:9' },
        'zones.external.allow_anonymous': { source: 'api' },
      },
    });
    const by = Object.fromEntries(rows.map((r) => [r.key, r]));
    expect(by['node.name']!.source).toEqual({ source: 'file', where: 'emqx.conf:3' });
    expect(by['listeners.tcp.external.port']!.source.source).toBe('env');
    expect(by['listeners.tcp.external.proto']!.source.source).toBe('default');
    expect(by['auth.users.1.password']).toEqual({ key: 'auth.users.1.password', value: '******', source: { source: 'file', where: 'emqx.conf:9' } });
    expect(sourceLabel(by['zones.external.allow_anonymous']!.source)).toBe('API');
    expect(by['zones.external.idle_timeout']!.source).toEqual({ source: 'default' });
    expect(rows.some((r) => r.key.startsWith('overrides') || r.key.startsWith('sources'))).toBe(false);
  });
});
