/**
 * The SQLite store's statements: each prepared once, by name; the end of
 * many rows in one statement; and a transaction around a batch of them.
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { QueuedEnd } from "./batch.ts";

const _SQL = {
  totalChanges: `SELECT total_changes() AS n`,
  insert: `INSERT INTO inbox (id, host, request, state, received_at) VALUES (?, ?, ?, 'pending', ?)
           ON CONFLICT(id) DO NOTHING`,
  pendingAfter: `SELECT * FROM inbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?`,
  markStarted:
    `UPDATE inbox SET state = 'started', started_at = ? WHERE id = ? AND state = 'pending'`,
  finish: `UPDATE inbox SET state = 'done', outcome = ?, detail = ?, finished_at = ?
           WHERE id = ? AND state != 'done'`,
  started: `SELECT * FROM inbox WHERE state = 'started' ORDER BY seq`,
  get: `SELECT * FROM inbox WHERE id = ?`,
  countState: `SELECT state, count(*) AS n FROM inbox GROUP BY state`,
  countPending: `SELECT count(*) AS n FROM inbox WHERE state = 'pending'`,
  // The newest row always stays: rowids (seq) must keep growing.
  pruneInbox:
    `DELETE FROM inbox WHERE state = 'done' AND finished_at < ? AND seq < (SELECT max(seq) FROM inbox)`,
  pruneHistory: `DELETE FROM history WHERE started_at < ? AND id NOT IN (SELECT id FROM inbox)`,
  pruneDeadletters: `DELETE FROM deadletter WHERE ts < ?`,
  histStart: `INSERT INTO history (id, host, executor, requested_by, reason, started_at)
              VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
  histFinish:
    `UPDATE history SET finished_at = ?, outcome = ?, detail = ?, duration_ms = ? WHERE id = ?`,
  histRecovered: `UPDATE history SET recovered_at = ?, recovery_ms = ? WHERE id = ?`,
  histNotBack: `UPDATE history SET outcome = 'failed', detail = ? WHERE id = ?`,
  histGet: `SELECT * FROM history WHERE id = ?`,
  histSince: `SELECT host, started_at FROM history WHERE started_at >= ? ORDER BY started_at`,
  histFailedSince: `SELECT id, host, finished_at FROM history
                    WHERE outcome = 'failed' AND finished_at >= ? ORDER BY finished_at`,
  deadletter: `INSERT INTO deadletter (topic, payload, error, ts) VALUES (?, ?, ?, ?)`,
  deadletters: `SELECT topic, payload, error, ts FROM deadletter ORDER BY seq DESC LIMIT ?`,
  list: `SELECT * FROM inbox ORDER BY seq DESC LIMIT ?`,
  listHost: `SELECT * FROM inbox WHERE host = ? ORDER BY seq DESC LIMIT ?`,
} as const;

/** Every prepared statement of the store, by name. */
export type Statements = Record<keyof typeof _SQL, StatementSync>;

/** Prepares every statement on `db`. */
export function prepareStatements(db: DatabaseSync): Statements {
  return Object.fromEntries(
    Object.entries(_SQL).map(([name, sql]) => [name, db.prepare(sql)]),
  ) as Statements;
}

/** Rows per statement when writing buffered ends, largest first; 1 takes the rest. */
const _FINISH_CHUNKS = [64, 16, 4, 1] as const;

/** Ends rows in as few statements as it can, each prepared once per size. */
export class EndWriter {
  readonly #db: DatabaseSync;
  readonly #bySize = new Map<number, StatementSync>();

  /** Prepares nothing until it first writes. */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Ends each row not yet done (inside the caller's transaction). */
  write(ends: readonly (readonly [number, QueuedEnd])[]): void {
    let i = 0;
    for (const size of _FINISH_CHUNKS) {
      for (; ends.length - i >= size; i += size) {
        const values: (string | number | null)[] = [];
        for (let j = i; j < i + size; j++) {
          const [seq, [outcome, detail, now]] = ends[j]!;
          values.push(seq, outcome, detail, now);
        }
        this.#statement(size).run(...values);
      }
    }
  }

  #statement(size: number): StatementSync {
    let st = this.#bySize.get(size);
    if (!st) this.#bySize.set(size, st = this.#db.prepare(_finishSql(size)));
    return st;
  }
}

/** Runs `fn` in one transaction on `db`: committed when it returns, rolled back when it throws. */
export function transaction(db: DatabaseSync, fn: () => void): void {
  db.exec("BEGIN");
  try {
    fn();
    db.exec("COMMIT");
  } catch (err) {
    try {
      if (db.isTransaction) db.exec("ROLLBACK");
    } catch { /* the error thrown says why */ }
    throw err;
  }
}

/** SQL ending `size` rows; parameters per row: seq, outcome, detail, finished_at. */
function _finishSql(size: number): string {
  // One row: a plain UPDATE is cheaper than joining a one-row VALUES.
  if (size === 1) {
    return `UPDATE inbox SET state = 'done', outcome = ?2, detail = ?3, finished_at = ?4
            WHERE seq = ?1 AND state != 'done'`;
  }
  return `UPDATE inbox SET state = 'done', outcome = v.column2, detail = v.column3,
            finished_at = v.column4
          FROM (VALUES ${Array(size).fill("(?, ?, ?, ?)").join(", ")}) AS v
          WHERE inbox.seq = v.column1 AND inbox.state != 'done'`;
}
