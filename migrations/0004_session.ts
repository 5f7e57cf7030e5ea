import type { Kysely } from 'kysely';

// Metadata of persistent (clean_session=false) sessions, so an offline session is listed, counted
// and expired after a restart. Its subscriptions and queue live in the persistence tables (0002).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mqtt_session')
    .addColumn('clientid', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text')
    .addColumn('zone', 'text', (c) => c.notNull())
    .addColumn('listener', 'text', (c) => c.notNull())
    .addColumn('proto_name', 'text', (c) => c.notNull())
    .addColumn('proto_ver', 'integer', (c) => c.notNull())
    .addColumn('keepalive', 'integer', (c) => c.notNull())
    .addColumn('ip_address', 'text')
    .addColumn('port', 'integer')
    /** ms */
    .addColumn('expiry_interval', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('connected_at', 'integer')
    .addColumn('disconnected_at', 'integer')
    .addColumn('recv_msg', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('send_msg', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mqtt_session').execute();
}
