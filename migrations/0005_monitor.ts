import type { Kysely } from 'kysely';

// The metrics history behind GET /api/v5/monitor: one row per 10 s sample, kept 24 h
// (server/api/services/monitor-history.ts writes and prunes it), so the dashboard's charts are
// filled on open and after a restart.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('monitor_sample')
    /** ms since the epoch */
    .addColumn('time_stamp', 'integer', (c) => c.primaryKey())
    .addColumn('connections', 'integer', (c) => c.notNull())
    .addColumn('live_connections', 'integer', (c) => c.notNull())
    .addColumn('sessions', 'integer', (c) => c.notNull())
    .addColumn('subscriptions', 'integer', (c) => c.notNull())
    .addColumn('shared_subscriptions', 'integer', (c) => c.notNull())
    .addColumn('topics', 'integer', (c) => c.notNull())
    .addColumn('retained_msg_count', 'integer', (c) => c.notNull())
    /** messages in the interval that ends at time_stamp */
    .addColumn('received', 'integer', (c) => c.notNull())
    .addColumn('sent', 'integer', (c) => c.notNull())
    .addColumn('dropped', 'integer', (c) => c.notNull())
    /** length of that interval, ms (shorter for the first sample after a start) */
    .addColumn('interval_ms', 'integer', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('monitor_sample').execute();
}
