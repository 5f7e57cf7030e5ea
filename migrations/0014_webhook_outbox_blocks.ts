import { sql, type Kysely } from 'kysely';

// Webhooks, third layout (issue 10's benchmark): the events one batch records for one hook are
// one row, a block (server/hooks/block.ts), instead of one row each; SQLite's cost is per row.
// - Events of a block have the consecutive ids first_id..last_id; blocks of a hook never overlap,
//   and the table is clustered on (hook_id, first_id) for range reads and deletes.
// - A block holds events that are pending, or delivered (at or below the hook's cursor,
//   webhook_hook_state); an event that failed a try moves to webhook_outbox (one row each, with
//   its attempts and error), as do dead letters. Rows of the earlier layouts stay there too.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE TABLE webhook_outbox_block (
    hook_id integer NOT NULL,
    first_id integer NOT NULL,
    last_id integer NOT NULL,
    /** the events, back to back (server/hooks/block.ts) */
    data blob NOT NULL,
    PRIMARY KEY (hook_id, first_id)
  ) WITHOUT ROWID`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE webhook_outbox_block`.execute(db);
}
