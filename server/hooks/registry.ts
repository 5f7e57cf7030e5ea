// The webhook definitions: validation, CRUD in SQLite (table webhook), and the in-memory list the
// event listeners read. This is the only writer of the table, so the list cannot go stale.
import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import { EVENT_NAMES, type TernEventName } from '../broker/events.ts';
import { alreadyExists, badRequest, notFound } from '../errors.ts';
import { HOOK_DEFAULTS, type Hook, type HookDefinition, type HookInput } from './types.ts';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** set by the delivery itself */
const RESERVED_HEADERS = new Set(['content-length', 'host', 'transfer-encoding', 'connection', 'x-tern-signature', 'x-tern-timestamp']);

const LIMITS = {
  timeout: [1, 600_000],
  max_attempts: [1, 1000],
  retry_interval: [1, 3_600_000],
  max_retry_interval: [1, 86_400_000],
  batch_size: [1, 1000],
  batch_time: [0, 60_000],
} as const;

/** [MQTT-4.7.1] a valid topic filter (no shared-subscription prefix: hooks see topic names) */
export function topicFilterProblem(f: string): string | undefined {
  if (f === '') return 'must not be empty';
  if (f.includes('\u0000')) return 'must not contain U+0000';
  const levels = f.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return 'may use # only as the whole last level (e.g. a/#)';
    if (level.includes('+') && level !== '+') return 'may use + only as a whole level (e.g. a/+/c)';
  }
  return undefined;
}

/** Checks a complete definition; throws 400 naming the field. */
export function validateDefinition(d: HookDefinition): void {
  if (typeof d.name !== 'string' || d.name.trim() === '' || d.name.length > 200) throw badRequest('name must be 1-200 characters');
  let url: URL | undefined;
  try {
    url = new URL(d.url);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw badRequest(`url must be an http:// or https:// URL with a host, got ${JSON.stringify(d.url)}`);
  }
  if (!Array.isArray(d.events) || d.events.length === 0) throw badRequest('events must list at least one event');
  d.events.forEach((e, i) => {
    if (!EVENT_NAMES.includes(e)) throw badRequest(`events[${i}]: unknown event ${JSON.stringify(e)} (expected one of ${EVENT_NAMES.join(', ')})`);
  });
  if (new Set(d.events).size !== d.events.length) throw badRequest('events must not repeat an event');
  d.topic_filters.forEach((f, i) => {
    const problem = typeof f === 'string' ? topicFilterProblem(f) : 'must be a string';
    if (problem) throw badRequest(`topic_filters[${i}]: ${JSON.stringify(f)} is not a valid topic filter: it ${problem}`);
  });
  for (const [name, value] of Object.entries(d.headers)) {
    if (!HEADER_NAME.test(name)) throw badRequest(`headers: ${JSON.stringify(name)} is not a valid header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw badRequest(`headers.${name} is set by Tern and cannot be configured`);
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) throw badRequest(`headers.${name} must be a string without line breaks`);
  }
  for (const [field, [min, max]] of Object.entries(LIMITS)) {
    const v = d[field as keyof typeof LIMITS];
    if (!Number.isInteger(v) || v < min || v > max) throw badRequest(`${field} must be an integer from ${min} to ${max}`);
  }
  if (d.max_retry_interval < d.retry_interval) throw badRequest('max_retry_interval must be at least retry_interval');
  if (d.secret !== null && (typeof d.secret !== 'string' || d.secret === '')) throw badRequest('secret must be a non-empty string or null');
  if (d.body_format !== 'emqx4') throw badRequest('body_format must be emqx4');
  if (d.payload_encoding !== 'plain' && d.payload_encoding !== 'base64') throw badRequest('payload_encoding must be plain or base64');
}

function withDefaults(input: HookInput): HookDefinition {
  const d: HookDefinition = { ...HOOK_DEFAULTS, ...input } as HookDefinition;
  // copies, so the caller's arrays and objects are not shared with the registry
  d.events = [...d.events] as TernEventName[];
  d.topic_filters = [...d.topic_filters];
  d.headers = { ...d.headers };
  return d;
}

export interface HookRegistry {
  /** every hook, in id order (the live list: do not mutate) */
  list(): readonly Hook[];
  get(id: number): Hook | undefined;
  byName(name: string): Hook | undefined;
  create(input: HookInput): Promise<Hook>;
  /** PUT semantics: the fields given replace the hook's; the rest keep their values */
  update(id: number, input: Partial<HookInput>): Promise<Hook>;
  remove(id: number): Promise<Hook>;
  /** called after every change with the hook as it is now (or was, for a removal) */
  onChange(fn: (hook: Hook, change: 'created' | 'updated' | 'removed') => void): void;
}

export async function createHookRegistry(db: Kysely<Database>): Promise<HookRegistry> {
  const hooks = new Map<number, Hook>();
  const listeners: ((hook: Hook, change: 'created' | 'updated' | 'removed') => void)[] = [];
  let sorted: Hook[] = [];
  const refresh = () => {
    sorted = [...hooks.values()].sort((a, b) => a.id - b.id);
  };

  for (const row of await db.selectFrom('webhook').selectAll().execute()) {
    const def = JSON.parse(row.definition) as Omit<HookDefinition, 'name'>;
    hooks.set(row.id, { ...HOOK_DEFAULTS, ...def, name: row.name, id: row.id, created_at: row.created_at, updated_at: row.updated_at });
  }
  refresh();

  const definitionJson = (d: HookDefinition): string => {
    const { name: _name, ...rest } = d;
    return JSON.stringify(rest);
  };
  const toDefinition = (h: Hook): HookDefinition => {
    const { id: _id, created_at: _c, updated_at: _u, ...d } = h;
    return d;
  };
  const nameTaken = (name: string, except?: number) => [...hooks.values()].some((h) => h.name === name && h.id !== except);
  const notify = (hook: Hook, change: 'created' | 'updated' | 'removed') => {
    for (const fn of listeners) fn(hook, change);
  };

  return {
    list: () => sorted,
    get: (id) => hooks.get(id),
    byName: (name) => sorted.find((h) => h.name === name),

    async create(input) {
      const d = withDefaults(input);
      validateDefinition(d);
      if (nameTaken(d.name)) throw alreadyExists(`name: a hook named ${JSON.stringify(d.name)} already exists`);
      const now = Date.now();
      const row = await db
        .insertInto('webhook')
        .values({ name: d.name, definition: definitionJson(d), created_at: now, updated_at: now })
        .returning('id')
        .executeTakeFirstOrThrow();
      const hook: Hook = { ...d, id: row.id, created_at: now, updated_at: now };
      hooks.set(hook.id, hook);
      refresh();
      notify(hook, 'created');
      return hook;
    },

    async update(id, input) {
      const old = hooks.get(id);
      if (!old) throw notFound('NOT_FOUND', `hook ${id} not found`);
      const d = withDefaults({ ...toDefinition(old), ...input });
      validateDefinition(d);
      if (nameTaken(d.name, id)) throw alreadyExists(`name: a hook named ${JSON.stringify(d.name)} already exists`);
      const now = Date.now();
      await db.updateTable('webhook').set({ name: d.name, definition: definitionJson(d), updated_at: now }).where('id', '=', id).execute();
      const hook: Hook = { ...d, id, created_at: old.created_at, updated_at: now };
      hooks.set(id, hook);
      refresh();
      notify(hook, 'updated');
      return hook;
    },

    async remove(id) {
      const old = hooks.get(id);
      if (!old) throw notFound('NOT_FOUND', `hook ${id} not found`);
      await db.deleteFrom('webhook').where('id', '=', id).execute();
      hooks.delete(id);
      refresh();
      notify(old, 'removed');
      return old;
    },

    onChange(fn) {
      listeners.push(fn);
    },
  };
}
