/**
 * What the PostgreSQL store holds, read back: requests with their
 * executions, dead letters, counts, every instance's outages and the
 * remembered facts, and the fleet's recent restarts and failures the rate
 * limits and the breaker are fed from.
 * @module
 */
import type { OutageRow } from "../outages.ts";
import { historyRow, inboxRow } from "../rows.ts";
import type { DeadLetterRow, HistoryRow, InboxRow, InboxState, RequestView } from "../types.ts";
import { outageRow } from "./leases.ts";
import type { Db } from "./sql.ts";

/** The read side of {@linkcode PgStore}; see the module doc. */
export class PgReader {
  readonly #sql: Db;

  /** Reads through `sql`. */
  constructor(sql: Db) {
    this.#sql = sql;
  }

  async outages(): Promise<OutageRow[]> {
    return (await this.#sql`SELECT * FROM outage`).map(outageRow);
  }

  async restartsSince(since: number): Promise<{ host: string; startedAt: number }[]> {
    const rows = await this.#sql`
      SELECT host, started_at FROM history WHERE started_at >= ${since} ORDER BY started_at`;
    return rows.map((r) => ({ host: r.host as string, startedAt: Number(r.started_at) }));
  }

  async failuresSince(since: number): Promise<{ id: string; host: string; at: number }[]> {
    const rows = await this.#sql`
      SELECT id, host, finished_at FROM history
      WHERE outcome = 'failed' AND finished_at >= ${since} ORDER BY finished_at`;
    return rows.map((r) => ({
      id: r.id as string,
      host: r.host as string,
      at: Number(r.finished_at),
    }));
  }

  async metaGet(key: string): Promise<string | undefined> {
    const rows = await this.#sql`SELECT value FROM meta WHERE key = ${key}`;
    return rows[0]?.value as string | undefined;
  }

  async get(id: string): Promise<InboxRow | undefined> {
    const rows = await this.#sql`SELECT * FROM inbox WHERE id = ${id}`;
    return rows[0] ? inboxRow(rows[0]) : undefined;
  }

  async historyGet(id: string): Promise<HistoryRow | undefined> {
    const rows = await this.#sql`SELECT * FROM history WHERE id = ${id}`;
    return rows[0] ? historyRow(rows[0]) : undefined;
  }

  async listRequests(options: { host?: string; limit?: number } = {}): Promise<RequestView[]> {
    const limit = options.limit ?? 100;
    const sql = this.#sql;
    const rows = options.host
      ? await sql`SELECT * FROM inbox WHERE host = ${options.host} ORDER BY seq DESC LIMIT ${limit}`
      : await sql`SELECT * FROM inbox ORDER BY seq DESC LIMIT ${limit}`;
    const views: RequestView[] = [];
    for (const r of rows.map(inboxRow)) {
      views.push({ ...r, execution: (await this.historyGet(r.id)) ?? null });
    }
    return views;
  }

  async deadLetters(limit = 100): Promise<DeadLetterRow[]> {
    const rows = await this.#sql`
      SELECT topic, payload, error, ts FROM deadletter ORDER BY seq DESC LIMIT ${limit}`;
    return rows.map((r) => ({
      topic: r.topic as string,
      payload: r.payload as string,
      error: r.error as string,
      ts: Number(r.ts),
    }));
  }

  async counts(): Promise<Record<InboxState, number>> {
    const out: Record<InboxState, number> = { pending: 0, started: 0, done: 0 };
    const rows = await this.#sql`SELECT state, count(*)::bigint AS n FROM inbox GROUP BY state`;
    for (const r of rows) out[r.state as InboxState] = Number(r.n);
    return out;
  }

  async pendingCount(): Promise<number> {
    const [r] = await this.#sql`SELECT count(*)::bigint AS n FROM inbox WHERE state = 'pending'`;
    return Number(r!.n);
  }
}
