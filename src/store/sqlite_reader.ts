/**
 * What an SQLite store holds, read back: requests with their executions,
 * dead letters, counts, the outages and remembered facts, and the recent
 * restarts and failures the rate limits and the breaker are fed from. Reads
 * see what is committed, never an open batch.
 * @module
 */
import type { MetaTable, OutageRow, OutageTable } from "./outages.ts";
import { historyRow, inboxRow, type Row } from "./rows.ts";
import type { Statements } from "./sqlite_sql.ts";
import type { DeadLetterRow, HistoryRow, InboxRow, InboxState, RequestView } from "./types.ts";

/** The tables of one SQLite database, prepared. */
export interface SqliteTables {
  s: Statements;
  outages: OutageTable;
  meta: MetaTable;
}

/** The read side of {@linkcode SqliteStore}; see the module doc. */
export class SqliteReader {
  readonly #s: Statements;
  readonly #outages: OutageTable;
  readonly #meta: MetaTable;

  /** Reads through `tables`. */
  constructor(tables: SqliteTables) {
    this.#s = tables.s;
    this.#outages = tables.outages;
    this.#meta = tables.meta;
  }

  outages(): OutageRow[] {
    return this.#outages.all();
  }

  restartsSince(since: number): { host: string; startedAt: number }[] {
    return (this.#s.histSince.all(since) as Row[]).map((r) => ({
      host: r.host as string,
      startedAt: r.started_at as number,
    }));
  }

  failuresSince(since: number): { id: string; host: string; at: number }[] {
    return (this.#s.histFailedSince.all(since) as Row[]).map((r) => ({
      id: r.id as string,
      host: r.host as string,
      at: r.finished_at as number,
    }));
  }

  metaGet(key: string): string | undefined {
    return this.#meta.get(key);
  }

  get(id: string): InboxRow | undefined {
    const r = this.#s.get.get(id) as Row | undefined;
    return r ? inboxRow(r) : undefined;
  }

  historyGet(id: string): HistoryRow | undefined {
    const r = this.#s.histGet.get(id) as Row | undefined;
    return r ? historyRow(r) : undefined;
  }

  listRequests(options: { host?: string; limit?: number } = {}): RequestView[] {
    const limit = options.limit ?? 100;
    const rows = options.host
      ? this.#s.listHost.all(options.host, limit) as Row[]
      : this.#s.list.all(limit) as Row[];
    return rows.map(inboxRow).map((r) => ({ ...r, execution: this.historyGet(r.id) ?? null }));
  }

  deadLetters(limit = 100): DeadLetterRow[] {
    return this.#s.deadletters.all(limit) as unknown as DeadLetterRow[];
  }

  counts(): Record<InboxState, number> {
    const out: Record<InboxState, number> = { pending: 0, started: 0, done: 0 };
    for (const r of this.#s.countState.all() as Row[]) out[r.state as InboxState] = r.n as number;
    return out;
  }

  pendingCount(): number {
    return (this.#s.countPending.get() as { n: number }).n;
  }
}
