/**
 * The SQLite store's transactions: an intake batch (requests and dead
 * letters), an execution batch (rows' ends, the other writes, then the
 * starts), ending what a previous run left started, and pruning. Each is one
 * transaction: all of it is written, or none.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { ExecutionWrites, IntakeWrites } from "./batch.ts";
import type { OutageTable } from "./outages.ts";
import { inboxRow, pendingRow, type Row } from "./rows.ts";
import { EndWriter, type Statements, transaction } from "./sqlite_sql.ts";
import type { InboxRow, IntakeCommit, StartRequest, StartResult } from "./types.ts";

/** Writes to one SQLite database; see the module doc. */
export class SqliteWriter {
  readonly #db: DatabaseSync;
  readonly #s: Statements;
  readonly #outages: OutageTable;
  readonly #ends: EndWriter;

  /** Writes to `db` through its prepared statements and outage table. */
  constructor(db: DatabaseSync, tables: { s: Statements; outages: OutageTable }) {
    this.#db = db;
    this.#s = tables.s;
    this.#outages = tables.outages;
    this.#ends = new EndWriter(db);
  }

  /** The requests (those already known are duplicates) and the dead letters. */
  intake(writes: IntakeWrites): IntakeCommit {
    const result: IntakeCommit = { accepted: [], duplicates: [] };
    transaction(this.#db, () => {
      for (const { req, now } of writes.requests) {
        const r = this.#s.insert.run(req.id, req.host, JSON.stringify(req), now);
        if (r.changes !== 1) result.duplicates.push(req.id);
        else result.accepted.push(pendingRow(Number(r.lastInsertRowid), req, now));
      }
      for (const dl of writes.deadLetters) {
        this.#s.deadletter.run(dl.topic, dl.payload, dl.error, dl.ts);
      }
    });
    return result;
  }

  /** The ends, the other writes, then `starts`: how each start went, in order. */
  execution(writes: ExecutionWrites<() => void>, starts: readonly StartRequest[]): StartResult[] {
    const results: StartResult[] = [];
    transaction(this.#db, () => {
      this.#ends.write(writes.ends);
      for (const op of writes.ops) op();
      for (const start of starts) results.push(this.#start(start));
    });
    return results;
  }

  #start(s: StartRequest): StartResult {
    if (this.#s.markStarted.run(s.now, s.row.id).changes !== 1) return { kind: "gone" };
    this.#outages.put(s.outage);
    const h = s.history;
    this.#s.histStart.run(h.id, h.host, h.executor, h.requestedBy, h.reason, h.startedAt);
    return { kind: "started" };
  }

  /** Every row left `started` becomes `interrupted` (never executed again). Returns them. */
  interruptStarted(now: number): InboxRow[] {
    const rows = (this.#s.started.all() as Row[]).map(inboxRow);
    if (rows.length === 0) return rows;
    transaction(this.#db, () => {
      for (const r of rows) {
        this.#s.finish.run(
          "interrupted",
          "mandrill stopped while the restart was running",
          now,
          r.id,
        );
        this.#s.histFinish.run(now, "interrupted", "mandrill stopped", null, r.id);
      }
    });
    return rows;
  }

  /** Deletes finished requests, their history and dead letters older than `before`. */
  prune(before: number): number {
    let n = 0;
    transaction(this.#db, () => {
      n = this.#s.pruneInbox.run(before).changes as number;
      this.#s.pruneHistory.run(before);
      this.#s.pruneDeadletters.run(before);
    });
    return n;
  }
}
