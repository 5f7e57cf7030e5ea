import { sql, type Kysely } from 'kysely';

// Webhooks: the outbox's blocks (0014) in a rowid table, keyed by the same unique index on
// (hook_id, first_id). A block is a blob of tens to hundreds of KB, and in a WITHOUT ROWID table
// (an index b-tree, whose cells keep at most about a quarter of a page before overflowing) SQLite
// paid up to ten times as much to insert and delete one. Measured in-process with 250 KB blocks,
// per block: insert 52 → 32 µs and delete 23 → 5 µs with 3 blocks kept; 300 → 35 µs and
// 300 → 67 µs with 70 kept (an outbox at web.hook.outbox_max while its receiver hangs).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE TABLE webhook_outbox_block_new (
    hook_id integer NOT NULL,
    first_id integer NOT NULL,
    last_id integer NOT NULL,
    /** the events, back to back (server/hooks/block.ts) */
    data blob NOT NULL,
    PRIMARY KEY (hook_id, first_id)
  )`.execute(db);
  await sql`INSERT INTO webhook_outbox_block_new (hook_id, first_id, last_id, data)
    SELECT hook_id, first_id, last_id, data FROM webhook_outbox_block ORDER BY hook_id, first_id`.execute(db);
  await sql`DROP TABLE webhook_outbox_block`.execute(db);
  await sql`ALTER TABLE webhook_outbox_block_new RENAME TO webhook_outbox_block`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`CREATE TABLE webhook_outbox_block_old (
    hook_id integer NOT NULL,
    first_id integer NOT NULL,
    last_id integer NOT NULL,
    data blob NOT NULL,
    PRIMARY KEY (hook_id, first_id)
  ) WITHOUT ROWID`.execute(db);
  await sql`INSERT INTO webhook_outbox_block_old SELECT hook_id, first_id, last_id, data FROM webhook_outbox_block`.execute(db);
  await sql`DROP TABLE webhook_outbox_block`.execute(db);
  await sql`ALTER TABLE webhook_outbox_block_old RENAME TO webhook_outbox_block`.execute(db);
}
