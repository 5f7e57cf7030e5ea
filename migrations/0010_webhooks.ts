import { sql, type Kysely } from 'kysely';

// Webhooks (server/hooks): their definitions, and the durable outbox of events to deliver.
// Outbox rows are written through prepared statements in the persistence's group commit; ids are
// assigned by the outbox (one increasing sequence), so a hook's rows are delivered in id order.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    /** JSON of everything else (url, events, topic_filters, headers, ...): see server/hooks/types.ts */
    .addColumn('definition', 'text', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('webhook_outbox')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('hook_id', 'integer', (c) => c.notNull())
    /** the event bus id (unique across restarts): receivers can deduplicate on it */
    .addColumn('event_id', 'text', (c) => c.notNull())
    /** EMQX hook point name, e.g. message.publish */
    .addColumn('event', 'text', (c) => c.notNull())
    /** the JSON body of this one event, as formatted when it happened */
    .addColumn('body', 'text', (c) => c.notNull())
    /** 0 pending, 1 failed (dead letter), 2 delivered */
    .addColumn('status', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX webhook_outbox_hook_status ON webhook_outbox (hook_id, status, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_outbox').execute();
  await db.schema.dropTable('webhook').execute();
}
