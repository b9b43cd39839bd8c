/**
 * The durable store: the inbox (every accepted request and where it stands),
 * the history of restarts executed, and dead letters. All calls are
 * synchronous and short, so intake can write before it acknowledges.
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { RestartRequest } from "../contract/messages.ts";
import { openDatabase, type OpenDatabaseOptions } from "./db.ts";
import { MetaTable, OutageTable } from "./outages.ts";

/** Where an inbox row stands. */
export type InboxState = "pending" | "started" | "done";
/** How a request ended. */
export type Outcome = "succeeded" | "failed" | "skipped" | "rejected" | "interrupted";

/** One inbox row. */
export interface InboxRow {
  seq: number;
  id: string;
  host: string;
  request: RestartRequest;
  state: InboxState;
  outcome: Outcome | null;
  detail: string | null;
  receivedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** One executed restart. */
export interface HistoryRow {
  id: string;
  host: string;
  executor: string;
  requestedBy: string | null;
  reason: string | null;
  startedAt: number;
  finishedAt: number | null;
  outcome: string | null;
  detail: string | null;
  durationMs: number | null;
  recoveredAt: number | null;
  recoveryMs: number | null;
}

/** A request with its execution, newest first, for `mandrill history`. */
export interface RequestView extends InboxRow {
  execution: HistoryRow | null;
}

/** A stored dead letter. */
export interface DeadLetterRow {
  topic: string;
  payload: string;
  error: string;
  ts: number;
}

type Row = Record<string, unknown>;

/** Options of intake's writes. */
export interface WriteOptions {
  /**
   * Leave the write in the open group-commit batch; it becomes durable at the
   * next {@linkcode Store.commitBatch} (or any other write). Default: false,
   * committed at once.
   */
  deferCommit?: boolean;
}

const DEFERRED: WriteOptions = { deferCommit: true };
/** Rows per statement when writing buffered ends, largest first; 1 takes the rest. */
const _FINISH_CHUNKS = [64, 16, 4, 1] as const;

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

function _inbox(r: Row): InboxRow {
  return {
    seq: r.seq as number,
    id: r.id as string,
    host: r.host as string,
    request: JSON.parse(r.request as string),
    state: r.state as InboxState,
    outcome: (r.outcome as Outcome | null) ?? null,
    detail: (r.detail as string | null) ?? null,
    receivedAt: r.received_at as number,
    startedAt: (r.started_at as number | null) ?? null,
    finishedAt: (r.finished_at as number | null) ?? null,
  };
}

function _history(r: Row): HistoryRow {
  return {
    id: r.id as string,
    host: r.host as string,
    executor: r.executor as string,
    requestedBy: (r.requested_by as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    startedAt: r.started_at as number,
    finishedAt: (r.finished_at as number | null) ?? null,
    outcome: (r.outcome as string | null) ?? null,
    detail: (r.detail as string | null) ?? null,
    durationMs: (r.duration_ms as number | null) ?? null,
    recoveredAt: (r.recovered_at as number | null) ?? null,
    recoveryMs: (r.recovery_ms as number | null) ?? null,
  };
}

/** The SQLite-backed store. Open with {@linkcode Store.open}; dispose to close. */
export class Store implements Disposable {
  readonly #db: DatabaseSync;
  readonly #s: Record<string, StatementSync>;
  #closed = false;
  #batchOpen = false;
  #batchFailed = false;
  #onCommit: (() => void)[] = [];
  #failedCommits = 0;
  /** Ends written with {@linkcode finishLater}, by seq, not yet in the database; see `#writeFinishes`. */
  readonly #finishes = new Map<number, [Outcome, string | null, number]>();
  /** `UPDATE … FROM (VALUES …)` statements by how many rows they end. */
  readonly #finishMany = new Map<number, StatementSync>();
  readonly #totalChanges: StatementSync;
  /** `total_changes()` at the last checkpoint: when unchanged, there is nothing to move. */
  #changesAtCheckpoint: number | bigint = -1;
  /** Hosts mandrill made unavailable; writes join the group commit like any other. */
  readonly outages: OutageTable;
  /** Small named values (the last verified kill switch state). */
  readonly meta: MetaTable;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    const prepare = (deferred: boolean) => this.#prepareWrite({ deferCommit: deferred });
    this.outages = new OutageTable(db, prepare);
    this.meta = new MetaTable(db, prepare);
    const p = (sql: string) => db.prepare(sql);
    this.#totalChanges = p(`SELECT total_changes() AS n`);
    this.#s = {
      insert: p(
        `INSERT INTO inbox (id, host, request, state, received_at) VALUES (?, ?, ?, 'pending', ?)
         ON CONFLICT(id) DO NOTHING`,
      ),
      pendingAfter: p(
        `SELECT * FROM inbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      markStarted: p(
        `UPDATE inbox SET state = 'started', started_at = ? WHERE id = ? AND state = 'pending'`,
      ),
      finish: p(
        `UPDATE inbox SET state = 'done', outcome = ?, detail = ?, finished_at = ?
         WHERE id = ? AND state != 'done'`,
      ),
      started: p(`SELECT * FROM inbox WHERE state = 'started' ORDER BY seq`),
      get: p(`SELECT * FROM inbox WHERE id = ?`),
      countState: p(`SELECT state, count(*) AS n FROM inbox GROUP BY state`),
      countPending: p(`SELECT count(*) AS n FROM inbox WHERE state = 'pending'`),
      // The newest row always stays: rowids (seq) must keep growing.
      pruneInbox: p(
        `DELETE FROM inbox WHERE state = 'done' AND finished_at < ? AND seq < (SELECT max(seq) FROM inbox)`,
      ),
      pruneHistory: p(
        `DELETE FROM history WHERE started_at < ? AND id NOT IN (SELECT id FROM inbox)`,
      ),
      pruneDeadletters: p(`DELETE FROM deadletter WHERE ts < ?`),
      histStart: p(
        `INSERT INTO history (id, host, executor, requested_by, reason, started_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
      ),
      histFinish: p(
        `UPDATE history SET finished_at = ?, outcome = ?, detail = ?, duration_ms = ? WHERE id = ?`,
      ),
      histRecovered: p(
        `UPDATE history SET recovered_at = ?, recovery_ms = ? WHERE id = ?`,
      ),
      histNotBack: p(`UPDATE history SET outcome = 'failed', detail = ? WHERE id = ?`),
      histGet: p(`SELECT * FROM history WHERE id = ?`),
      histSince: p(
        `SELECT host, started_at FROM history WHERE started_at >= ? ORDER BY started_at`,
      ),
      histFailedSince: p(
        `SELECT host, finished_at FROM history
         WHERE outcome = 'failed' AND finished_at >= ? ORDER BY finished_at`,
      ),
      deadletter: p(`INSERT INTO deadletter (topic, payload, error, ts) VALUES (?, ?, ?, ?)`),
      deadletters: p(`SELECT topic, payload, error, ts FROM deadletter ORDER BY seq DESC LIMIT ?`),
      list: p(`SELECT * FROM inbox ORDER BY seq DESC LIMIT ?`),
      listHost: p(`SELECT * FROM inbox WHERE host = ? ORDER BY seq DESC LIMIT ?`),
    };
  }

  /** Opens the store at `path` (`":memory:"` for tests), migrating its schema. */
  static open(path: string, options: OpenDatabaseOptions = {}): Store {
    return new Store(openDatabase(path, options));
  }

  /** False once closed. */
  get isOpen(): boolean {
    return !this.#closed;
  }

  /**
   * Adds a validated request as pending. Returns the new row, or undefined
   * when its id is already known.
   */
  insertRequest(
    req: RestartRequest,
    now: number,
    options: WriteOptions = {},
  ): InboxRow | undefined {
    this.#prepareWrite(options);
    const r = this.#s.insert!.run(req.id, req.host, JSON.stringify(req), now);
    if (r.changes !== 1) return undefined;
    return {
      seq: Number(r.lastInsertRowid),
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

  /** Up to `limit` pending rows with `seq` greater than `afterSeq`, oldest first. */
  pendingAfter(afterSeq: number, limit: number): InboxRow[] {
    this.#writeFinishes();
    return (this.#s.pendingAfter!.all(afterSeq, limit) as Row[]).map(_inbox);
  }

  /**
   * Marks a pending row started (before its executor runs). False if it was
   * not pending. With `deferCommit`, commit before executing anything.
   */
  markStarted(id: string, now: number, options: WriteOptions = {}): boolean {
    this.#writeFinishes(); // a row ended in this batch must not start
    this.#prepareWrite(options);
    return this.#s.markStarted!.run(now, id).changes === 1;
  }

  /** Ends a row with its outcome. False if it had already ended. */
  finish(
    id: string,
    outcome: Outcome,
    detail: string | null,
    now: number,
    options: WriteOptions = {},
  ): boolean {
    this.#writeFinishes(); // the first end of a row is the one kept
    this.#prepareWrite(options);
    return this.#s.finish!.run(outcome, detail, now, id).changes === 1;
  }

  /**
   * Ends the row `seq` with its outcome, in the open group-commit batch (opened
   * if needed), unless it has already ended. Cheaper than {@linkcode finish}:
   * the ends of one batch are written together, one statement per 64 rows,
   * before anything else reads or writes the inbox, and before the commit.
   */
  finishLater(seq: number, outcome: Outcome, detail: string | null, now: number): void {
    this.#prepareWrite(DEFERRED);
    if (!this.#finishes.has(seq)) this.#finishes.set(seq, [outcome, detail, now]);
  }

  /**
   * Crash recovery: every row left `started` by a previous run becomes
   * `interrupted` (never executed again). Returns those rows.
   */
  interruptStarted(now: number): InboxRow[] {
    this.commitBatch();
    const rows = (this.#s.started!.all() as Row[]).map(_inbox);
    this.transaction(() => {
      for (const r of rows) {
        this.#s.finish!.run(
          "interrupted",
          "mandrill stopped while the restart was running",
          now,
          r.id,
        );
        this.#s.histFinish!.run(now, "interrupted", "mandrill stopped", null, r.id);
      }
    });
    return rows;
  }

  /** One inbox row by id. */
  get(id: string): InboxRow | undefined {
    this.#writeFinishes();
    const r = this.#s.get!.get(id) as Row | undefined;
    return r ? _inbox(r) : undefined;
  }

  /** Rows waiting to be dispatched (cheap: a partial index). */
  pendingCount(): number {
    this.#writeFinishes();
    return (this.#s.countPending!.get() as { n: number }).n;
  }

  /**
   * Deletes finished requests, their history and dead letters older than
   * `before` (ms). Pending and started rows are never deleted. Returns the
   * number of requests removed.
   */
  prune(before: number): number {
    return this.transaction(() => {
      const n = this.#s.pruneInbox!.run(before).changes as number;
      this.#s.pruneHistory!.run(before);
      this.#s.pruneDeadletters!.run(before);
      return n;
    });
  }

  /** Number of rows in each state. */
  counts(): Record<InboxState, number> {
    this.#writeFinishes();
    const out: Record<InboxState, number> = { pending: 0, started: 0, done: 0 };
    for (const r of this.#s.countState!.all() as Row[]) {
      out[r.state as InboxState] = r.n as number;
    }
    return out;
  }

  /** Saves the start of an execution. */
  historyStart(
    row: Omit<
      HistoryRow,
      "finishedAt" | "outcome" | "detail" | "durationMs" | "recoveredAt" | "recoveryMs"
    >,
    options: WriteOptions = {},
  ): void {
    this.#prepareWrite(options);
    this.#s.histStart!.run(
      row.id,
      row.host,
      row.executor,
      row.requestedBy,
      row.reason,
      row.startedAt,
    );
  }

  /** Saves how an execution ended. */
  historyFinish(
    id: string,
    outcome: string,
    detail: string | null,
    finishedAt: number,
    durationMs: number,
    options: WriteOptions = {},
  ): void {
    this.#prepareWrite(options);
    this.#s.histFinish!.run(finishedAt, outcome, detail, durationMs, id);
  }

  /** Saves when a restarted host came back. */
  historyRecovered(id: string, recoveredAt: number, recoveryMs: number): void {
    this.commitBatch();
    this.#s.histRecovered!.run(recoveredAt, recoveryMs, id);
  }

  /** Records that a restarted host did not come back in time: its execution failed after all. */
  historyNotBack(id: string, detail: string): void {
    this.commitBatch();
    this.#s.histNotBack!.run(detail, id);
  }

  /** One execution by request id. */
  historyGet(id: string): HistoryRow | undefined {
    const r = this.#s.histGet!.get(id) as Row | undefined;
    return r ? _history(r) : undefined;
  }

  /** Executions started at or after `since` (ms), oldest first: feeds the policy's rate limits. */
  restartsSince(since: number): { host: string; startedAt: number }[] {
    return (this.#s.histSince!.all(since) as Row[]).map((r) => ({
      host: r.host as string,
      startedAt: r.started_at as number,
    }));
  }

  /** Executions that ended failed (or did not come back) at or after `since` (ms), oldest first: feeds the breaker. */
  failuresSince(since: number): { host: string; at: number }[] {
    return (this.#s.histFailedSince!.all(since) as Row[]).map((r) => ({
      host: r.host as string,
      at: r.finished_at as number,
    }));
  }

  /** Stores a dead letter. */
  addDeadLetter(dl: DeadLetterRow, options: WriteOptions = {}): void {
    this.#prepareWrite(options);
    this.#s.deadletter!.run(dl.topic, dl.payload, dl.error, dl.ts);
  }

  /** The newest `limit` dead letters. */
  deadLetters(limit = 100): DeadLetterRow[] {
    return this.#s.deadletters!.all(limit) as unknown as DeadLetterRow[];
  }

  /** Requests newest first, each with its execution if any. */
  listRequests(options: { host?: string; limit?: number } = {}): RequestView[] {
    this.#writeFinishes();
    const limit = options.limit ?? 100;
    const rows = options.host
      ? this.#s.listHost!.all(options.host, limit) as Row[]
      : this.#s.list!.all(limit) as Row[];
    return rows.map(_inbox).map((r) => ({ ...r, execution: this.historyGet(r.id) ?? null }));
  }

  /**
   * Group commit for intake: commits the writes made with `deferCommit` since
   * the last commit. Every other write commits them first, so nothing is ever
   * executed, marked or reported on top of an uncommitted request.
   */
  commitBatch(): void {
    if (!this.#batchOpen) return;
    this.#writeFinishes();
    this.#batchOpen = false;
    const committed = this.#onCommit;
    this.#onCommit = [];
    try {
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#failBatch();
      throw err;
    }
    for (const fn of committed) fn();
  }

  /** The open batch failed: rolls it back and drops what waited on it. */
  #failBatch(): void {
    this.#batchOpen = false;
    this.#onCommit = [];
    this.#finishes.clear();
    this.#batchFailed = true;
    this.#failedCommits++;
    try {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    } catch { /* the connection is beyond saving; the caller's error says why */ }
  }

  /**
   * Writes the ends buffered by {@linkcode finishLater} into the open batch.
   * If that fails, the batch fails as a commit would (rolled back, counted in
   * {@linkcode failedCommits}) and the error is thrown.
   */
  #writeFinishes(): void {
    if (this.#finishes.size === 0) return;
    const rows = [...this.#finishes];
    this.#finishes.clear();
    try {
      let i = 0;
      for (const size of _FINISH_CHUNKS) {
        for (; rows.length - i >= size; i += size) {
          const values: (string | number | null)[] = [];
          for (let j = i; j < i + size; j++) {
            const [seq, [outcome, detail, now]] = rows[j]!;
            values.push(seq, outcome, detail, now);
          }
          this.#finishStatement(size).run(...values);
        }
      }
    } catch (err) {
      this.#failBatch();
      throw err;
    }
  }

  #finishStatement(size: number): StatementSync {
    let st = this.#finishMany.get(size);
    if (!st) {
      st = this.#db.prepare(_finishSql(size));
      this.#finishMany.set(size, st);
    }
    return st;
  }

  /**
   * Runs `fn` once the open group-commit batch has committed, or now if none
   * is open: e.g. publishes the event of a deferred write only once that write
   * is durable. Never runs if the batch fails. `fn` must not throw.
   */
  afterCommit(fn: () => void): void {
    if (this.#batchOpen) this.#onCommit.push(fn);
    else fn();
  }

  /**
   * For the acknowledging side: commits, and throws if this or any group
   * commit since the last call failed — whoever ran it — so the PUBACKs of
   * rolled-back writes are never sent.
   */
  commitForAck(): void {
    try {
      this.commitBatch();
    } finally {
      if (this.#batchFailed) {
        this.#batchFailed = false;
        // deno-lint-ignore no-unsafe-finally
        throw new Error("a group commit failed: its messages are not acknowledged");
      }
    }
  }

  /**
   * How many group commits have failed since the store was opened. A write
   * made with `deferCommit` is durable after the next commit only if this did
   * not change meanwhile.
   */
  get failedCommits(): number {
    return this.#failedCommits;
  }

  /** True while deferred writes wait for {@linkcode commitBatch}. */
  get batchOpen(): boolean {
    return this.#batchOpen;
  }

  #prepareWrite(options: WriteOptions): void {
    if (!options.deferCommit) return this.commitBatch();
    if (this.#batchOpen) return;
    this.#db.exec("BEGIN");
    this.#batchOpen = true;
  }

  /**
   * Runs `fn` in one transaction: many small writes, one commit. Nested calls
   * join the outer transaction.
   */
  transaction<T>(fn: () => T): T {
    this.commitBatch();
    if (this.#db.isTransaction) return fn();
    this.#db.exec("BEGIN");
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  /**
   * Moves the write-ahead log into the database (PASSIVE: never waits for
   * readers), if this connection wrote anything since the last time. Call on
   * a timer.
   */
  checkpoint(): void {
    if (this.#closed) return;
    this.commitBatch();
    if (this.#db.isTransaction) return;
    const changes = this.#totalChanges.get() as { n: number | bigint };
    if (changes.n === this.#changesAtCheckpoint) return; // nothing written since
    this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    this.#changesAtCheckpoint = changes.n;
  }

  /** Closes the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.commitBatch();
    this.#closed = true;
    this.#db.close(); // the last connection to close checkpoints and removes the log
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
