/**
 * The SQLite store (`store.path`): one instance's inbox, history, dead
 * letters and outages in one file (`node:sqlite`, WAL). Writes queue in two
 * batches — intake's, committed before its PUBACKs leave, and the execution
 * side's, committed on the next turn — and run in one transaction each at
 * commit. A failed intake commit drops its batch (nothing was acknowledged:
 * the broker sends it again); a failed execution commit keeps its batch and
 * is retried (`CommitLoop`), so a full disk means "not ready", not a crash.
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { RestartRequest } from "../contract/messages.ts";
import { CommitLoop } from "./commit_loop.ts";
import { openDatabase, type OpenDatabaseOptions } from "./db.ts";
import { MetaTable, type OutageRow, OutageTable } from "./outages.ts";
import {
  historyRow,
  inboxRow,
  prepareStatements,
  type Row,
  type Statements,
} from "./sqlite_sql.ts";
import type {
  DeadLetterRow,
  HistoryRow,
  InboxRow,
  InboxState,
  InstanceInfo,
  IntakeCommit,
  Outcome,
  RequestView,
  SharedFacts,
  StartRequest,
  StartResult,
  StartVerdict,
  Store,
} from "./types.ts";

/** Rows per statement when writing buffered ends, largest first; 1 takes the rest. */
const _FINISH_CHUNKS = [64, 16, 4, 1] as const;

interface _QueuedStart {
  start: StartRequest;
  resolve: (r: StartResult) => void;
  reject: (err: unknown) => void;
}

/** The SQLite-backed store; see the module doc. Open with {@linkcode SqliteStore.open}. */
export class SqliteStore implements Store, Disposable {
  readonly kind = "sqlite" as const;
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #s: Statements;
  readonly #outages: OutageTable;
  readonly #meta: MetaTable;
  readonly #loop: CommitLoop;
  #closed = false;
  #intakeProblem: string | undefined;
  // The intake batch.
  #intake: { req: RestartRequest; now: number }[] = [];
  #deadLetters: DeadLetterRow[] = [];
  // The execution batch.
  #ends = new Map<number, [Outcome, string | null, number]>();
  #ops: (() => void)[] = [];
  #starts: _QueuedStart[] = [];
  #afterCommit: (() => void)[] = [];
  readonly #finishMany = new Map<number, StatementSync>();
  /** `total_changes()` at the last checkpoint: when unchanged, there is nothing to move. */
  #changesAtCheckpoint: number | bigint = -1;

  readonly #lock: Deno.FsFile | undefined;

  private constructor(db: DatabaseSync, path: string, lock: Deno.FsFile | undefined) {
    this.#db = db;
    this.#path = path;
    this.#lock = lock;
    this.#s = prepareStatements(db);
    const immediate = () => {};
    this.#outages = new OutageTable(db, immediate);
    this.#meta = new MetaTable(db, immediate);
    this.#loop = new CommitLoop({ commit: () => this.#commitBatch(), what: `store ${path}` });
  }

  /**
   * Opens the store at `path` (`":memory:"` for tests), migrating its schema,
   * for the one process that runs on it: a second one is refused
   * ({@linkcode StoreInUseError}, naming the file and the other process).
   */
  static open(path: string, options: OpenDatabaseOptions = {}): SqliteStore {
    const lock = path === ":memory:" ? undefined : _lock(path);
    try {
      return new SqliteStore(openDatabase(path, options), path, lock);
    } catch (err) {
      lock?.close();
      throw err;
    }
  }

  /** Opens the store at `path` to read it (`mandrill history`, tests) while a mandrill may run on it. */
  static openReader(path: string): SqliteStore {
    return new SqliteStore(openDatabase(path), path, undefined);
  }

  /** False once closed. */
  get isOpen(): boolean {
    return !this.#closed;
  }

  /** Why the store cannot take writes now, for `/readyz`. */
  get problem(): string | undefined {
    return this.#loop.problem ?? this.#intakeProblem;
  }

  // --- Intake -------------------------------------------------------------

  /** Adds a validated request to the open intake batch. */
  insertRequest(req: RestartRequest, now: number): void {
    this.#intake.push({ req, now });
  }

  /** Adds a dead letter to the open intake batch. */
  addDeadLetter(dl: DeadLetterRow): void {
    this.#deadLetters.push(dl);
  }

  /** Commits the intake batch in one transaction; on failure drops it (nothing was acknowledged) and throws. */
  commitIntake(): IntakeCommit {
    const requests = this.#intake;
    const deadLetters = this.#deadLetters;
    this.#intake = [];
    this.#deadLetters = [];
    const result: IntakeCommit = { accepted: [], duplicates: [] };
    if (requests.length === 0 && deadLetters.length === 0) return result;
    this.#transaction(() => {
      for (const { req, now } of requests) {
        const r = this.#s.insert.run(req.id, req.host, JSON.stringify(req), now);
        if (r.changes !== 1) result.duplicates.push(req.id);
        else result.accepted.push(_newRow(Number(r.lastInsertRowid), req, now));
      }
      for (const dl of deadLetters) this.#s.deadletter.run(dl.topic, dl.payload, dl.error, dl.ts);
    }, (err) => {
      this.#intakeProblem = `cannot write to the store ${this.#path}: ${String(err)}`;
    });
    this.#intakeProblem = undefined;
    return result;
  }

  // --- Dispatch -----------------------------------------------------------

  /** Up to `limit` pending rows after `afterSeq`, oldest first, without those ending or starting in the open batch. */
  nextPending(afterSeq: number, limit: number): InboxRow[] {
    const queued = new Set(this.#starts.map((q) => q.start.row.id));
    // Read as many more as may be left out, so a page is only short at the end.
    const extra = this.#ends.size + queued.size;
    return (this.#s.pendingAfter.all(afterSeq, limit + extra) as Row[]).map(inboxRow)
      .filter((r) => !this.#ends.has(r.seq) && !queued.has(r.id)).slice(0, limit);
  }

  /** Marks the row started, with its outage and history start, in the next commit. */
  tryStart(
    start: StartRequest,
    _recheck: (facts: SharedFacts) => StartVerdict,
  ): Promise<StartResult> {
    // One instance: the gate already decided on everything there is to know.
    if (this.#closed) return Promise.reject(new Error(`store ${this.#path} is closed`));
    const { promise, resolve, reject } = Promise.withResolvers<StartResult>();
    this.#starts.push({ start, resolve, reject });
    this.#loop.soon();
    return promise;
  }

  // --- The execution batch ------------------------------------------------

  finishLater(row: InboxRow, outcome: Outcome, detail: string | null, now: number): void {
    if (!this.#ends.has(row.seq)) this.#ends.set(row.seq, [outcome, detail, now]);
    this.#loop.soon();
  }

  historyFinish(
    id: string,
    outcome: string,
    detail: string | null,
    finishedAt: number,
    durationMs: number,
  ): void {
    this.#queue(() => this.#s.histFinish.run(finishedAt, outcome, detail, durationMs, id));
  }

  historyRecovered(id: string, recoveredAt: number, recoveryMs: number): void {
    this.#queue(() => this.#s.histRecovered.run(recoveredAt, recoveryMs, id));
  }

  historyNotBack(id: string, detail: string): void {
    this.#queue(() => this.#s.histNotBack.run(detail, id));
  }

  putOutage(row: OutageRow): void {
    this.#queue(() => this.#outages.put(row));
  }

  deleteOutage(host: string, id: string): void {
    this.#queue(() => this.#outages.delete(host, id));
  }

  afterCommit(fn: () => void): void {
    if (this.#pending()) this.#afterCommit.push(fn);
    else fn();
  }

  /** Commits the execution batch now; rejects if it fails (it stays queued and is retried). */
  commitBatch(): Promise<void> {
    return this.#loop.now();
  }

  #queue(op: () => void): void {
    this.#ops.push(op);
    this.#loop.soon();
  }

  #pending(): boolean {
    return this.#ends.size > 0 || this.#ops.length > 0 || this.#starts.length > 0;
  }

  #commitBatch(): void {
    if (!this.#pending() || this.#closed) return;
    const starts = this.#starts;
    const results: StartResult[] = [];
    this.#transaction(() => {
      this.#writeEnds();
      for (const op of this.#ops) op();
      for (const { start } of starts) results.push(this.#start(start));
    });
    // Committed: only now is anything dropped from the queues.
    const after = this.#afterCommit;
    this.#ends = new Map();
    this.#ops = [];
    this.#starts = [];
    this.#afterCommit = [];
    starts.forEach((q, i) => q.resolve(results[i]!));
    for (const fn of after) fn();
  }

  #start(s: StartRequest): StartResult {
    if (this.#s.markStarted.run(s.now, s.row.id).changes !== 1) return { kind: "gone" };
    this.#outages.put(s.outage);
    const h = s.history;
    this.#s.histStart.run(h.id, h.host, h.executor, h.requestedBy, h.reason, h.startedAt);
    return { kind: "started" };
  }

  #writeEnds(): void {
    const rows = [...this.#ends];
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
  }

  #finishStatement(size: number): StatementSync {
    let st = this.#finishMany.get(size);
    if (!st) this.#finishMany.set(size, st = this.#db.prepare(_finishSql(size)));
    return st;
  }

  #transaction(fn: () => void, onError?: (err: unknown) => void): void {
    this.#db.exec("BEGIN");
    try {
      fn();
      this.#db.exec("COMMIT");
    } catch (err) {
      try {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      } catch { /* the error below says why */ }
      onError?.(err);
      throw err;
    }
  }

  // --- Start-up and upkeep ------------------------------------------------

  /** Every row left `started` becomes `interrupted` (never executed again). Returns them. */
  interruptStarted(now: number): InboxRow[] {
    const rows = (this.#s.started.all() as Row[]).map(inboxRow);
    if (rows.length === 0) return rows;
    this.#transaction(() => {
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

  /** Every outage (one instance watches them all). */
  adoptOutages(_now: number): OutageRow[] {
    return this.#outages.all();
  }

  outages(): OutageRow[] {
    return this.#outages.all();
  }

  /** None: one instance holds every row. */
  adoptPending(_limit: number): InboxRow[] {
    return [];
  }

  /** Always: one instance runs every chaos schedule. */
  chaosTurn(_group: string, _ttlMs: number): boolean {
    return true;
  }

  /** None: an SQLite file has one instance. */
  peers(_self: InstanceInfo): InstanceInfo[] {
    return [];
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

  metaSet(key: string, value: string): void {
    this.#meta.set(key, value);
  }

  /** Deletes finished requests, their history and dead letters older than `before`. */
  prune(before: number): number {
    let n = 0;
    this.#transaction(() => {
      n = this.#s.pruneInbox.run(before).changes as number;
      this.#s.pruneHistory.run(before);
      this.#s.pruneDeadletters.run(before);
    });
    return n;
  }

  /**
   * Moves the write-ahead log into the database (PASSIVE: never waits for
   * readers), if anything was written since the last time. Call on a timer.
   */
  checkpoint(): void {
    if (this.#closed || this.#db.isTransaction) return;
    const changes = this.#s.totalChanges.get() as { n: number | bigint };
    if (changes.n === this.#changesAtCheckpoint) return;
    this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    this.#changesAtCheckpoint = changes.n;
  }

  /** Commits what is queued (if it can), then closes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#loop.now().catch(() => {}); // the commit loop logged why
    await this.#loop.close();
    this.#closed = true;
    for (const q of this.#starts) q.reject(new Error(`store ${this.#path} closed`));
    this.#starts = [];
    this.#db.close(); // the last connection to close checkpoints and removes the log
    this.#lock?.close();
  }

  /** Closes at once, dropping what is queued (tests, CLI reads). */
  [Symbol.dispose](): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#loop.close();
    this.#db.close();
    this.#lock?.close();
  }

  // --- Reads --------------------------------------------------------------

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

/** Another process runs on the store file. */
export class StoreInUseError extends Error {
  override name = "StoreInUseError";
}

/**
 * Takes `{path}.lock` for this process (an advisory lock the kernel drops
 * when the process dies, kill -9 included), writing its pid there.
 */
function _lock(path: string): Deno.FsFile {
  const lockPath = `${path}.lock`;
  const file = Deno.openSync(lockPath, { read: true, write: true, create: true });
  if (!file.tryLockSync(true)) {
    file.close();
    let pid = "";
    try {
      pid = Deno.readTextFileSync(lockPath).trim();
    } catch { /* unreadable: say what we know */ }
    throw new StoreInUseError(
      `store ${path} is in use by another mandrill${pid ? ` (pid ${pid})` : ""} ` +
        `(lock ${lockPath}): two processes on one SQLite file would each run every request; ` +
        "stop the other, or share a PostgreSQL store (store.url) between instances",
    );
  }
  file.truncateSync(0);
  file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
  return file;
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

function _newRow(seq: number, req: RestartRequest, now: number): InboxRow {
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
