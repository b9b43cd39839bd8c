/**
 * Moving an SQLite deployment to PostgreSQL (`mandrill store migrate`):
 * every inbox row (with its seq, so the order is kept), the history, dead
 * letters, the hosts restarts hold and the remembered facts, in one
 * transaction, into a database with mandrill's schema and an empty inbox.
 * The SQLite file is held (its lock) for the whole copy, so no mandrill
 * writes it meanwhile. Pending rows are nobody's (the first instance takes
 * them), rows left started and the hosts left coming back belong to an
 * instance that is gone (the first instance ends them interrupted and
 * watches the hosts), exactly as after a restart on SQLite.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../sqlite.ts";
import { connect, type ConnectOptions, raw, type Tx, valuesList } from "./sql.ts";
import { migrate } from "./schema.ts";

/** What was copied. */
export interface ImportCounts {
  inbox: number;
  history: number;
  deadletter: number;
  outage: number;
  meta: number;
}

/** The owner of what the SQLite instance held: gone, so taken over at once. */
const GONE = "migrated-from-sqlite#0";
/** Rows written per statement. */
const CHUNK = 500;

type _Row = Record<string, unknown>;

/** Copies the SQLite store at `from` into the PostgreSQL database `to`; see the module doc. */
export async function importSqlite(from: string, to: ConnectOptions): Promise<ImportCounts> {
  const info = await Deno.stat(from).catch(() => undefined);
  if (!info?.isFile) throw new Error(`${from} is not a file`);
  // Holds the file's lock (refused while a mandrill runs on it) and brings its schema up to date.
  using _held = SqliteStore.open(from);
  const src = new DatabaseSync(from, { readOnly: true });
  const db = connect({ ...to, max: 1 });
  try {
    const all = (table: string, order: string) =>
      src.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all() as _Row[];
    const inbox = all("inbox", "seq");
    const history = all("history", "started_at");
    const deadletter = all("deadletter", "seq");
    const outage = all("outage", "host");
    // Filters of the SQLite instance's session are its own; the rest is the fleet's.
    const meta = all("meta", "key").filter((r) => !String(r.key).startsWith("mqtt.filters"));
    await migrate(db);
    await db.begin(async (tx) => {
      const [{ n }] = await tx`SELECT count(*)::int AS n FROM inbox` as [{ n: number }];
      if (n > 0) {
        throw new Error(`the database already holds ${n} requests: migrate into an empty one`);
      }
      await _insert(
        tx,
        "inbox",
        [
          "seq",
          "id",
          "host",
          "request",
          "state",
          "outcome",
          "detail",
          "received_at",
          "started_at",
          "finished_at",
          "claimed_by",
          "lease_until",
        ],
        inbox.map((r) => [
          r.seq,
          r.id,
          r.host,
          r.request,
          r.state,
          r.outcome,
          r.detail,
          r.received_at,
          r.started_at,
          r.finished_at,
          r.state === "started" ? GONE : null,
          r.state === "started" ? 0 : null,
        ]),
      );
      await _insert(
        tx,
        "history",
        [
          "id",
          "host",
          "executor",
          "requested_by",
          "reason",
          "started_at",
          "finished_at",
          "outcome",
          "detail",
          "duration_ms",
          "recovered_at",
          "recovery_ms",
        ],
        history.map((r) => [
          r.id,
          r.host,
          r.executor,
          r.requested_by,
          r.reason,
          r.started_at,
          r.finished_at,
          r.outcome,
          r.detail,
          r.duration_ms,
          r.recovered_at,
          r.recovery_ms,
        ]),
      );
      await _insert(
        tx,
        "deadletter",
        ["seq", "topic", "payload", "error", "ts"],
        deadletter.map((r) => [r.seq, r.topic, r.payload, r.error, r.ts]),
      );
      await _insert(
        tx,
        "outage",
        [
          "host",
          "id",
          "state",
          "executor",
          "started_at",
          "boot_id_before",
          "since",
          "interrupted",
          "detail",
          "owner",
          "lease_until",
        ],
        outage.map((r) => [
          r.host,
          r.id,
          r.state,
          r.executor,
          r.started_at,
          r.boot_id_before,
          r.since,
          Number(r.interrupted) !== 0,
          r.detail,
          GONE,
          0,
        ]),
      );
      for (const r of meta) {
        await tx`INSERT INTO meta (key, value) VALUES (${r.key}, ${r.value})
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
      }
      // New rows continue after the copied ones.
      await tx`SELECT setval(pg_get_serial_sequence('inbox', 'seq'),
                             greatest((SELECT max(seq) FROM inbox), 1))`;
      await tx`SELECT setval(pg_get_serial_sequence('deadletter', 'seq'),
                             greatest((SELECT max(seq) FROM deadletter), 1))`;
    });
    return {
      inbox: inbox.length,
      history: history.length,
      deadletter: deadletter.length,
      outage: outage.length,
      meta: meta.length,
    };
  } finally {
    src.close();
    await db.end();
  }
}

/** Inserts `rows` into `table` (its `columns`), `CHUNK` at a time, each value a parameter. */
async function _insert(tx: Tx, table: string, columns: string[], rows: unknown[][]) {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const cols = columns.join(", ");
    // Table and column names are written here, never from the data.
    // A plain INSERT ... VALUES: each parameter takes its column's type.
    await tx`INSERT INTO ${raw(table)} (${raw(cols)})
             VALUES ${valuesList(rows.slice(i, i + CHUNK))}`;
  }
}
