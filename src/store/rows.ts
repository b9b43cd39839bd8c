/**
 * Inbox and history rows from the tables both stores share, and the row a
 * newly accepted request becomes.
 * @module
 */
import type { RestartRequest } from "../contract/messages.ts";
import type { HistoryRow, InboxRow, InboxState, Outcome } from "./types.ts";

/** A row as the database driver returns it. */
export type Row = Record<string, unknown>;

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

/** The row of a request just accepted as `seq`: pending, nothing done yet. */
export function pendingRow(seq: number, req: RestartRequest, now: number): InboxRow {
  return {
    seq,
    id: req.id,
    host: req.host,
    request: req,
    state: "pending",
    outcome: null,
    detail: null,
    receivedAt: now,
    startedAt: null,
    finishedAt: null,
  };
}
