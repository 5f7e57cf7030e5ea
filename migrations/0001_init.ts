import type { Kysely } from 'kysely';

// Built-in authentication data and runtime settings.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mqtt_user')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('is_superuser', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('mqtt_clientid')
    .addColumn('clientid', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('setting')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('setting').execute();
  await db.schema.dropTable('mqtt_clientid').execute();
  await db.schema.dropTable('mqtt_user').execute();
}
