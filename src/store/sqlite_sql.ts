/**
 * The SQLite store's statements and row mappers.
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { HistoryRow, InboxRow, InboxState, Outcome } from "./types.ts";

/** A row as `node:sqlite` returns it. */
export type Row = Record<string, unknown>;

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

/** An inbox row from its table row. */
export function inboxRow(r: Row): InboxRow {
  return {
    seq: Number(r.seq),
    id: r.id as string,
    host: r.host as string,
    request: typeof r.request === "string"
      ? JSON.parse(r.request)
      : r.request as InboxRow["request"],
    state: r.state as InboxState,
    outcome: (r.outcome as Outcome | null) ?? null,
    detail: (r.detail as string | null) ?? null,
    receivedAt: Number(r.received_at),
    startedAt: r.started_at == null ? null : Number(r.started_at),
    finishedAt: r.finished_at == null ? null : Number(r.finished_at),
  };
}

/** A history row from its table row. */
export function historyRow(r: Row): HistoryRow {
  const num = (v: unknown) => (v == null ? null : Number(v));
  return {
    id: r.id as string,
    host: r.host as string,
    executor: r.executor as string,
    requestedBy: (r.requested_by as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    startedAt: Number(r.started_at),
    finishedAt: num(r.finished_at),
    outcome: (r.outcome as string | null) ?? null,
    detail: (r.detail as string | null) ?? null,
    durationMs: num(r.duration_ms),
    recoveredAt: num(r.recovered_at),
    recoveryMs: num(r.recovery_ms),
  };
}
