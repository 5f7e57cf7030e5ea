import { sql, type Kysely } from 'kysely';

// The broker's session state (server/broker/persistence): subscriptions of clean=false clients,
// their queued and in-flight messages, inbound QoS 2 packets, retained messages and wills.
// Packets are stored as columns, never as JSON, so the API can page through queues with SQL too.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mqtt_subscription')
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('qos', 'integer', (c) => c.notNull())
    .addColumn('rh', 'integer')
    .addColumn('rap', 'integer')
    .addColumn('nl', 'integer')
    .addColumn('subscription_id', 'integer')
    // the rowid is kept on upsert, so loading by rowid restores each client's first-subscribe order
    .addUniqueConstraint('mqtt_subscription_client_topic', ['client_id', 'topic'])
    .execute();

  // One row per published message still referenced by an outgoing row: a publish fanned out to
  // N offline sessions stores its payload once, not N times.
  await db.schema
    .createTable('mqtt_message')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('payload', 'blob', (c) => c.notNull())
    .addColumn('qos', 'integer', (c) => c.notNull())
    .addColumn('dup', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('broker_id', 'text')
    .addColumn('broker_counter', 'integer', (c) => c.notNull())
    .addColumn('from_clientid', 'text')
    .addColumn('added_at', 'integer', (c) => c.notNull())
    .execute();

  // No foreign key to mqtt_message: rows are written in batches whose statement order follows
  // the in-memory state, and orphans are swept at start-up instead. No index on client_id either:
  // rows are only ever addressed by id (the in-memory queue knows them) or read whole at start-up,
  // and every index is one more B-tree write per message on the hot path.
  await db.schema
    .createTable('mqtt_outgoing')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('msg_id', 'integer', (c) => c.notNull())
    .addColumn('cmd', 'text', (c) => c.notNull().defaultTo('publish'))
    .addColumn('qos', 'integer', (c) => c.notNull())
    .addColumn('retain', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('message_id', 'integer')
    .addColumn('inflight', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('sent_seq', 'integer')
    .execute();

  await db.schema
    .createTable('mqtt_incoming')
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'integer', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('payload', 'blob', (c) => c.notNull())
    .addColumn('qos', 'integer', (c) => c.notNull())
    .addColumn('retain', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('dup', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('broker_id', 'text')
    .addColumn('broker_counter', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('mqtt_incoming_pk', ['client_id', 'message_id'])
    .modifyEnd(sql`without rowid`)
    .execute();

  await db.schema
    .createTable('mqtt_retained')
    .addColumn('topic', 'text', (c) => c.primaryKey())
    .addColumn('payload', 'blob', (c) => c.notNull())
    .addColumn('qos', 'integer', (c) => c.notNull())
    .addColumn('broker_id', 'text')
    .addColumn('broker_counter', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('from_clientid', 'text')
    .addColumn('added_at', 'integer', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mqtt_will')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('broker_id', 'text', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('payload', 'blob', (c) => c.notNull())
    .addColumn('qos', 'integer', (c) => c.notNull())
    .addColumn('retain', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('added_at', 'integer', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mqtt_session_counter')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('mqueue_dropped', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mqtt_session_counter').execute();
  await db.schema.dropTable('mqtt_will').execute();
  await db.schema.dropTable('mqtt_retained').execute();
  await db.schema.dropTable('mqtt_incoming').execute();
  await db.schema.dropTable('mqtt_outgoing').execute();
  await db.schema.dropTable('mqtt_message').execute();
  await db.schema.dropTable('mqtt_subscription').execute();
}
