// What a person starting Tern at a terminal needs first: where every listener is, where the
// dashboard is, and whether the admin password is still the well-known default. On a text console
// it is printed as a block; under JSON logs the same facts are one log record (startInfo).
import type { Config, ListenerConfig } from './config/types.ts';
import type { Tern } from './tern.ts';
import { BUILTIN_DEFAULT_PASSWORD } from './api/services/admin.ts';

export interface ListenerLine {
  id: string;
  zone: string;
  /** e.g. mqtt://0.0.0.0:1883, ws://0.0.0.0:8083/mqtt; undefined when not started */
  url: string | undefined;
  /** why it did not start */
  note?: string;
}

export interface StartInfo {
  version: string;
  node: string;
  listeners: ListenerLine[];
  dashboard: string;
  api: string;
  api_docs: string;
  default_password_admins: string[];
  log_file?: string;
}

const SCHEME: Record<ListenerConfig['proto'], string> = { tcp: 'mqtt', ssl: 'mqtts', ws: 'ws', wss: 'wss' };
const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** A wildcard bind cannot be browsed to: point at the loopback address instead. */
function browsable(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${hostPort(h, port)}`;
}

export function startInfo(tern: Pick<Tern, 'config' | 'listeners' | 'ports' | 'defaultPasswordAdmins'>, version: string, logFile?: string): StartInfo {
  const config: Config = tern.config;
  const running = new Map(tern.listeners.running.map((r) => [`${r.config.proto}:${r.config.name}`, r]));
  const listeners = config.listeners.map((l): ListenerLine => {
    const id = `${l.proto}:${l.name}`;
    const r = running.get(id);
    if (!r) return { id, zone: l.zone, url: undefined, note: 'not started: keyfile and certfile are not configured' };
    const ws = l.proto === 'ws' || l.proto === 'wss';
    return { id, zone: l.zone, url: `${SCHEME[l.proto]}://${hostPort(r.host, r.port)}${ws ? l.mqtt_path : ''}` };
  });
  const base = browsable(config.dashboard.listener.host, tern.ports.http);
  return {
    version,
    node: config.node.name,
    listeners,
    dashboard: `${base}/`,
    api: `${base}/api/v5`,
    api_docs: `${base}/api-docs`,
    default_password_admins: tern.defaultPasswordAdmins,
    ...(logFile ? { log_file: logFile } : {}),
  };
}

/** The block printed on a text console, one string with a trailing newline. */
export function formatBanner(info: StartInfo, color = false): string {
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[22m` : s);
  const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[22m` : s);
  const warn = (s: string) => (color ? `\x1b[33m${s}\x1b[39m` : s);
  const idWidth = Math.max(...info.listeners.map((l) => l.id.length), 'dashboard'.length);
  const urlWidth = Math.max(...info.listeners.map((l) => (l.url ?? '-').length));
  const lines = ['', `  ${bold(`Tern ${info.version}`)} is running as ${info.node}`, ''];
  for (const l of info.listeners) {
    const where = l.url ?? dim('-');
    const pad = ' '.repeat(Math.max(0, urlWidth - (l.url ?? '-').length));
    lines.push(`  ${l.id.padEnd(idWidth)}  ${where}${pad}  ${l.url ? `zone ${l.zone}` : dim(l.note ?? 'not started')}`);
  }
  lines.push(`  ${'dashboard'.padEnd(idWidth)}  ${info.dashboard}`);
  lines.push(`  ${'api'.padEnd(idWidth)}  ${info.api}  ${dim(`(docs ${info.api_docs})`)}`);
  if (info.log_file) lines.push(`  ${'log file'.padEnd(idWidth)}  ${info.log_file}`);
  for (const user of info.default_password_admins) {
    lines.push(
      '',
      warn(
        `  WARNING: dashboard user "${user}" still has the default password "${BUILTIN_DEFAULT_PASSWORD}". ` +
          `Change it in the dashboard or with POST /api/v5/users/${user}/change_pwd.`,
      ),
    );
  }
  lines.push('');
  return lines.join('\n') + '\n';
}
