// The one config source every module reads at use time. A reload (SIGHUP, the API, `tern ctl`)
// replaces the value as a whole and publishes the difference, so a module either reads get()
// when it needs a value (most do), or subscribes to act on a change (listeners rebinding, timers
// re-arming). Nothing captures a value at start-up and keeps it.
import type { Config } from './types.ts';

export interface ConfigChange {
  /** dotted paths of the values that differ, e.g. "zones.external.max_mqueue_len", "listeners.tcp.external.port" */
  readonly keys: readonly string[];
  readonly previous: Config;
  readonly current: Config;
}

export interface ConfigSource {
  get(): Config;
  /** called after each replace() that changed something, with exactly the changed keys */
  onChange(fn: (change: ConfigChange) => void): () => void;
  /** swaps the value in; subscribers are told when a key differs. Returns the change. */
  replace(next: Config): ConfigChange;
}

export function createConfigSource(initial: Config, onListenerError?: (err: unknown) => void): ConfigSource {
  let current = initial;
  const listeners = new Set<(change: ConfigChange) => void>();
  return {
    get: () => current,
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    replace(next) {
      const change: ConfigChange = { keys: diffConfig(current, next), previous: current, current: next };
      current = next;
      if (change.keys.length === 0) return change;
      for (const fn of listeners) {
        try {
          fn(change);
        } catch (err) {
          onListenerError?.(err);
        }
      }
      return change;
    },
  };
}

/** A fixed source, for tests and tools that never reload. */
export function staticConfig(config: Config): ConfigSource {
  return createConfigSource(config);
}

/**
 * The dotted paths where two configs differ. Objects recurse; listeners are keyed by
 * "<proto>.<name>" so a reordered file is no change; other arrays compare as whole values.
 */
export function diffConfig(a: Config, b: Config): string[] {
  const out: string[] = [];
  walk(keyedListeners(a), keyedListeners(b), '', out);
  return out.sort();
}

/** the config with its listeners keyed by "<proto>.<name>" (the paths diffConfig and GET /configs' sources use) */
export function keyedListeners(c: Config): Record<string, unknown> {
  const listeners: Record<string, unknown> = {};
  for (const l of c.listeners) listeners[`${l.proto}.${l.name}`] = l;
  return { ...c, listeners };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function walk(a: unknown, b: unknown, path: string, out: string[]): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) walk(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(path);
}
