// The audit log: every change made through the management API, with who made it (an
// administrator's login or an API key), what (the operation and its target, secrets masked),
// when, and from where. Stored in SQLite, bounded by audit.max_rows (the oldest rows go first).
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ConfigSource } from '../../config/source.ts';
import type { Database } from '../../store/database.ts';

export interface AuditEntry {
  who_type: 'admin' | 'api_key';
  who: string;
  operation: string;
  http_method: string;
  target: string;
  body: unknown;
  status: number;
  source_ip: string | null;
}

export interface AuditRow extends Omit<AuditEntry, 'body'> {
  id: number;
  /** RFC 3339 */
  created_at: string;
  body: unknown;
}

export interface AuditFilter {
  who?: string;
  who_type?: 'admin' | 'api_key';
  operation?: string;
  http_method?: string;
  /** ms */
  gte_created_at?: number;
  lte_created_at?: number;
}

export type AuditLog = ReturnType<typeof createAuditLog>;

const MASK = '******';
/** body fields that hold credentials, at any depth: password, new_pwd, api_secret, token, ... */
const SECRET_KEY = /pass|pwd|secret|token|private_?key|credential/i;
const MAX_STRING = 256;
const MAX_ITEMS = 50;

/** a copy fit for the log: secrets masked, long strings and lists cut */
export function maskBody(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== null && value !== undefined) return MASK;
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => maskBody(v));
    if (value.length > MAX_ITEMS) items.push(`… ${value.length - MAX_ITEMS} more`);
    return items;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskBody(v, k);
    return out;
  }
  if (typeof value === 'string' && value.length > MAX_STRING) return `${value.slice(0, MAX_STRING)}… (${value.length} characters)`;
  return value;
}

export function createAuditLog(deps: { db: Kysely<Database>; config: ConfigSource; logger: Logger; now?: () => number }) {
  const { db } = deps;
  const now = deps.now ?? Date.now;

  return {
    async record(e: AuditEntry): Promise<void> {
      const body = e.body === undefined ? null : JSON.stringify(maskBody(e.body));
      const { id } = await db
        .insertInto('audit_log')
        .values({ created_at: now(), who_type: e.who_type, who: e.who, operation: e.operation, http_method: e.http_method, target: e.target, body, status: e.status, source_ip: e.source_ip })
        .returning('id')
        .executeTakeFirstOrThrow();
      // ids only grow, so everything at or below id - max_rows is older than the newest max_rows
      const keep = deps.config.get().audit.max_rows;
      if (id > keep) await db.deleteFrom('audit_log').where('id', '<=', id - keep).execute();
    },

    async list(f: AuditFilter, page: { page: number; limit: number }): Promise<{ data: AuditRow[]; count: number }> {
      let q = db.selectFrom('audit_log');
      if (f.who !== undefined) q = q.where('who', '=', f.who);
      if (f.who_type !== undefined) q = q.where('who_type', '=', f.who_type);
      if (f.operation !== undefined) q = q.where('operation', '=', f.operation);
      if (f.http_method !== undefined) q = q.where('http_method', '=', f.http_method.toUpperCase());
      if (f.gte_created_at !== undefined) q = q.where('created_at', '>=', f.gte_created_at);
      if (f.lte_created_at !== undefined) q = q.where('created_at', '<=', f.lte_created_at);
      const { count } = await q.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
      const rows = await q
        .selectAll()
        .orderBy('id', 'desc')
        .limit(page.limit)
        .offset((page.page - 1) * page.limit)
        .execute();
      return {
        count: Number(count),
        data: rows.map((r) => ({
          id: r.id,
          created_at: new Date(r.created_at).toISOString(),
          who_type: r.who_type,
          who: r.who,
          operation: r.operation,
          http_method: r.http_method,
          target: r.target,
          body: r.body === null ? null : (JSON.parse(r.body) as unknown),
          status: r.status,
          source_ip: r.source_ip,
        })),
      };
    },
  };
}
