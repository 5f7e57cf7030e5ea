// `tern ctl conf show [key]|reload [--dry-run]`: the configuration in force, and reloading
// emqx.conf (issue 13 §1's API).
import type { Command } from 'commander';
import { CliError, EXIT } from '../client.ts';
import { action } from '../context.ts';
import { flatten, keyValue, looseTable } from '../output.ts';

interface ListenerEntry { proto: string; name: string; [k: string]: unknown }

/**
 * The effective config in the shape a person looks keys up in: listeners by proto and name
 * (listeners.tcp.external.port) instead of an array.
 */
export function viewOf(config: Record<string, unknown>): Record<string, unknown> {
  const { listeners, ...rest } = config;
  if (!Array.isArray(listeners)) return config;
  const byProto: Record<string, Record<string, unknown>> = {};
  for (const l of listeners as ListenerEntry[]) {
    const { proto, name, ...fields } = l;
    (byProto[proto] ??= {})[name] = fields;
  }
  return { ...rest, listeners: byProto };
}

/** `zones.external.max_mqueue_len`, also in emqx.conf's spelling (`zone.external...`, `listener.tcp...`). */
export function lookup(view: Record<string, unknown>, key: string): { found: boolean; value: unknown } {
  const candidates = [key, key.replace(/^zone\./, 'zones.').replace(/^listener\./, 'listeners.')];
  for (const k of candidates) {
    let v: unknown = view;
    let found = true;
    for (const part of k.split('.')) {
      if (v && typeof v === 'object' && Object.hasOwn(v, part)) v = (v as Record<string, unknown>)[part];
      else {
        found = false;
        break;
      }
    }
    if (found) return { found, value: v };
  }
  return { found: false, value: undefined };
}

/** A value as emqx.conf would hold it: strings bare, booleans true/false, nothing as (unset). */
function confValue(v: unknown): string {
  if (v === null || v === undefined) return '(unset)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** "key = value" lines, as in emqx.conf. */
function confLines(pairs: [string, unknown][]): string {
  return pairs.map(([k, v]) => `${k} = ${confValue(v)}`).join('\n') + '\n';
}

const CHANGE_COLUMNS = ['key', 'class', 'old', 'new', 'old_value', 'new_value', 'note'];

export function register(ctl: Command) {
  const conf = ctl.command('conf').description('the configuration in force; reload emqx.conf');

  conf
    .command('show')
    .summary('every key in force, or one key or section')
    .description('every key in force (secrets masked), or one key or section: zones.external, zone.external.max_mqueue_len, listeners.tcp.external.port')
    .argument('[key]')
    .action(
      action(async ({ api, out }, key: string | undefined) => {
        const view = viewOf(await api.get<Record<string, unknown>>('/configs'));
        if (key === undefined) {
          out.print(view, () => confLines(flatten(view)));
          return;
        }
        const { found, value } = lookup(view, key);
        if (!found) throw new CliError(`no configuration key ${key} (tern ctl conf show lists them all)`, EXIT.refused);
        out.print(value, () => (value && typeof value === 'object' && !Array.isArray(value) ? confLines(flatten(value, key)) : confValue(value)));
      }),
    );

  conf
    .command('reload')
    .summary('re-read emqx.conf and apply what changed (--dry-run: only show)')
    .description('re-read emqx.conf and apply what changed, without dropping connections; prints each changed key with old and new value and whether it applied hot, rebound a listener or needs a restart')
    .option('--dry-run', 'validate and show what would change, changing nothing')
    .action(
      action(async ({ api, out }, opts: { dryRun?: boolean }) => {
        const res = await api.post<unknown>('/configs/reload', undefined, opts.dryRun ? { dry_run: true } : undefined);
        const obj = (res && typeof res === 'object' && !Array.isArray(res) ? res : {}) as Record<string, unknown>;
        const list = Array.isArray(res) ? res : (obj.changes ?? obj.changed ?? obj.diff ?? []);
        const changes = (Array.isArray(list) ? list : []) as Record<string, unknown>[];
        out.print(res, () => {
          const head = opts.dryRun
            ? `dry run: ${changes.length} key(s) would change; nothing was applied`
            : `reloaded: ${changes.length} key(s) changed`;
          const extra = Object.entries(obj).filter(([k, v]) => !['changes', 'changed', 'diff'].includes(k) && (v === null || typeof v !== 'object'));
          return [head, changes.length ? looseTable(changes, CHANGE_COLUMNS) : '', extra.length ? keyValue(extra) : ''].filter(Boolean).join('\n');
        });
      }),
    );
}
