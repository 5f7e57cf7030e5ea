import { sql, type Kysely } from 'kysely';

// Webhooks, second layout (issue 10's benchmark): the outbox costs the broker one small insert per
// event and nothing per delivery.
// - webhook_outbox is clustered on (hook_id, id) (WITHOUT ROWID, no secondary index): an insert
//   appends to one b-tree, a hook's rows are read and deleted in id ranges.
// - An event is stored as its raw fields (the payload as is, the rest as a short JSON array
//   `meta`), not as its webhook body: the body is formatted at delivery time, off the broker's
//   thread. Two values bound per row: the insert is the cheapest SQLite offers.
// - Delivery does not rewrite rows: webhook_hook_state.cursor says every row of the hook up to it
//   is done (delivered, or a dead letter with status 1). Rows at or below the cursor with status 0
//   are the recent deliveries (a bounded number is kept). The state row also keeps the counters,
//   so stats survive a restart.
// Rows of the first layout (0010) keep their formatted body (column `body`) and are delivered as is.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE TABLE webhook_outbox_compact (
    hook_id integer NOT NULL,
    id integer NOT NULL,
    /** JSON array: [event name, event id, ts, ...the event's fields] (server/hooks/pack.ts) */
    meta text NOT NULL,
    /** message events: the payload as received */
    payload blob,
    /** rows of the first layout (0010): their formatted body, delivered as is */
    body text,
    status integer NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    updated_at integer,
    PRIMARY KEY (hook_id, id)
  ) WITHOUT ROWID`.execute(db);
  // undelivered rows of the first layout (delivered ones are history only): formatted body kept
  await sql`INSERT INTO webhook_outbox_compact (hook_id, id, meta, body, status, attempts, last_error, updated_at)
    SELECT hook_id, id, json_array(event, event_id, created_at), body, status, attempts, last_error, updated_at
    FROM webhook_outbox WHERE status IN (0, 1)`.execute(db);
  await sql`DROP TABLE webhook_outbox`.execute(db);
  await sql`ALTER TABLE webhook_outbox_compact RENAME TO webhook_outbox`.execute(db);

  await sql`CREATE TABLE webhook_hook_state (
    hook_id integer PRIMARY KEY,
    cursor integer NOT NULL DEFAULT 0,
    delivered integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    dropped integer NOT NULL DEFAULT 0,
    retried integer NOT NULL DEFAULT 0,
    last_error text,
    last_error_at integer,
    last_success_at integer
  )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE webhook_hook_state`.execute(db);
  await sql`DROP TABLE webhook_outbox`.execute(db);
  await sql`CREATE TABLE webhook_outbox (id integer PRIMARY KEY, hook_id integer NOT NULL, event_id text NOT NULL, event text NOT NULL,
    body text NOT NULL, status integer NOT NULL DEFAULT 0, attempts integer NOT NULL DEFAULT 0, last_error text,
    created_at integer NOT NULL, updated_at integer NOT NULL)`.execute(db);
  await sql`CREATE INDEX webhook_outbox_hook_status ON webhook_outbox (hook_id, status, id)`.execute(db);
}
