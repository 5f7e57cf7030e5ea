import type { Kysely } from 'kysely';

// Subscriptions made by the broker (server/broker/routing/broker-subscriptions.ts): the
// auto-subscribe templates every client gets at connect, in order, and the per-client lists.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('auto_subscribe')
    .addColumn('position', 'integer', (c) => c.primaryKey())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('qos', 'integer', (c) => c.notNull())
    .addColumn('rh', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rap', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('nl', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('broker_subscription')
    .addColumn('clientid', 'text', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('qos', 'integer', (c) => c.notNull())
    .addColumn('rh', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rap', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('nl', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('broker_subscription_pk', ['clientid', 'topic'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('broker_subscription').execute();
  await db.schema.dropTable('auto_subscribe').execute();
}
