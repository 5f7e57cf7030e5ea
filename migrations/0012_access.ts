import { sql, type Kysely } from 'kysely';

// Authorization rules managed through the API (EMQX 5's built_in_database source), banned
// clients, and the audit log of management changes (server/broker/access, server/api).
export async function up(db: Kysely<any>): Promise<void> {
  // one row per principal, its rules in order as JSON, as EMQX's mnesia table keeps them
  await db.schema
    .createTable('acl_rule')
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('clientid', 'username', 'all')`))
    /** '' for kind = all */
    .addColumn('who', 'text', (c) => c.notNull())
    /** JSON [{permission, action, topic}] */
    .addColumn('rules', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('acl_rule_pk', ['kind', 'who'])
    .execute();

  await db.schema
    .createTable('banned')
    .addColumn('as', 'text', (c) => c.notNull().check(sql`"as" in ('clientid', 'username', 'peerhost')`))
    .addColumn('who', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('by', 'text', (c) => c.notNull())
    /** ms */
    .addColumn('at', 'integer', (c) => c.notNull())
    /** ms; null = never expires */
    .addColumn('until', 'integer')
    .addPrimaryKeyConstraint('banned_pk', ['as', 'who'])
    .execute();
  await db.schema.createIndex('banned_until').on('banned').column('until').execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    /** ms */
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .addColumn('who_type', 'text', (c) => c.notNull())
    .addColumn('who', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('http_method', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    /** JSON of the request body with secrets masked, or null */
    .addColumn('body', 'text')
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('source_ip', 'text')
    .execute();
  await db.schema.createIndex('audit_log_created_at').on('audit_log').column('created_at').execute();
  await db.schema.createIndex('audit_log_who').on('audit_log').columns(['who', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_log').execute();
  await db.schema.dropTable('banned').execute();
  await db.schema.dropTable('acl_rule').execute();
}
