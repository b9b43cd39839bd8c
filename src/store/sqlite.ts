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
import type { DatabaseSync } from "node:sqlite";
import type { RestartRequest } from "../contract/messages.ts";
import { ExecutionBatch, IntakeBatch } from "./batch.ts";
import { CommitLoop } from "./commit_loop.ts";
import { openDatabase, type OpenDatabaseOptions } from "./db.ts";
import { MetaTable, type OutageRow, OutageTable } from "./outages.ts";
import { inboxRow, type Row } from "./rows.ts";
import { lockStore } from "./sqlite_lock.ts";
import { SqliteReader } from "./sqlite_reader.ts";
import { prepareStatements, type Statements } from "./sqlite_sql.ts";
import { SqliteWriter } from "./sqlite_writes.ts";
import type {
  DeadLetterRow,
  InboxRow,
  InstanceInfo,
  IntakeCommit,
  Outcome,
  SharedFacts,
  StartRequest,
  StartResult,
  StartVerdict,
  Store,
} from "./types.ts";

interface _QueuedStart {
  start: StartRequest;
  resolve: (r: StartResult) => void;
  reject: (err: unknown) => void;
}

/** The SQLite-backed store; see the module doc. Open with {@linkcode SqliteStore.open}. */
export class SqliteStore extends SqliteReader implements Store, Disposable {
  readonly kind = "sqlite" as const;
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #s: Statements;
  readonly #write: SqliteWriter;
  readonly #outages: OutageTable;
  readonly #meta: MetaTable;
  readonly #loop: CommitLoop;
  #closed = false;
  #intakeProblem: string | undefined;
  readonly #intake = new IntakeBatch();
  readonly #batch = new ExecutionBatch<() => void>();
  /** Starts of the execution batch, written after its other writes. */
  #starts: _QueuedStart[] = [];
  /** `total_changes()` at the last checkpoint: when unchanged, there is nothing to move. */
  #changesAtCheckpoint: number | bigint = -1;

  readonly #lock: Deno.FsFile | undefined;

  private constructor(db: DatabaseSync, path: string, lock: Deno.FsFile | undefined) {
    const immediate = () => {};
    const tables = {
      s: prepareStatements(db),
      outages: new OutageTable(db, immediate),
      meta: new MetaTable(db, immediate),
    };
    super(tables);
    this.#db = db;
    this.#path = path;
    this.#lock = lock;
    this.#s = tables.s;
    this.#write = new SqliteWriter(db, tables);
    this.#outages = tables.outages;
    this.#meta = tables.meta;
    this.#loop = new CommitLoop({ commit: () => this.#commitBatch(), what: `store ${path}` });
  }

  /**
   * Opens the store at `path` (`":memory:"` for tests), migrating its schema,
   * for the one process that runs on it: a second one is refused
   * ({@linkcode StoreInUseError}, naming the file and the other process).
   */
  static open(path: string, options: OpenDatabaseOptions = {}): SqliteStore {
    const lock = path === ":memory:" ? undefined : lockStore(path);
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
    this.#intake.add(req, now);
  }

  /** Adds a dead letter to the open intake batch. */
  addDeadLetter(dl: DeadLetterRow): void {
    this.#intake.addDeadLetter(dl);
  }

  /** Commits the intake batch in one transaction; on failure drops it (nothing was acknowledged) and throws. */
  commitIntake(): IntakeCommit {
    const writes = this.#intake.take();
    if (!writes) return { accepted: [], duplicates: [] };
    let result: IntakeCommit;
    try {
      result = this.#write.intake(writes);
    } catch (err) {
      this.#intakeProblem = `cannot write to the store ${this.#path}: ${String(err)}`;
      throw err;
    }
    this.#intakeProblem = undefined;
    return result;
  }

  // --- Dispatch -----------------------------------------------------------

  /** Up to `limit` pending rows after `afterSeq`, oldest first, without those ending or starting in the open batch. */
  nextPending(afterSeq: number, limit: number): InboxRow[] {
    const queued = new Set(this.#starts.map((q) => q.start.row.id));
    // Read as many more as may be left out, so a page is only short at the end.
    const extra = this.#batch.endCount + queued.size;
    return (this.#s.pendingAfter.all(afterSeq, limit + extra) as Row[]).map(inboxRow)
      .filter((r) => !this.#batch.ending(r.seq) && !queued.has(r.id)).slice(0, limit);
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
    this.#batch.end(row.seq, [outcome, detail, now]);
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
    if (this.#pending()) this.#batch.onCommit(fn);
    else fn();
  }

  /** Commits the execution batch now; rejects if it fails (it stays queued and is retried). */
  commitBatch(): Promise<void> {
    return this.#loop.now();
  }

  #queue(op: () => void): void {
    this.#batch.push(op);
    this.#loop.soon();
  }

  #pending(): boolean {
    return !this.#batch.empty || this.#starts.length > 0;
  }

  #commitBatch(): void {
    if (!this.#pending() || this.#closed) return;
    const writes = this.#batch.take();
    const starts = this.#starts;
    const results = this.#write.execution(writes, starts.map((q) => q.start));
    this.#starts = [];
    starts.forEach((q, i) => q.resolve(results[i]!));
    this.#batch.committed(writes);
  }

  // --- Start-up and upkeep ------------------------------------------------

  /** Every row left `started` becomes `interrupted` (never executed again). Returns them. */
  interruptStarted(now: number): InboxRow[] {
    return this.#write.interruptStarted(now);
  }

  /** Every outage (one instance watches them all). */
  adoptOutages(_now: number): OutageRow[] {
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

  metaSet(key: string, value: string): void {
    this.#meta.set(key, value);
  }

  /** Deletes finished requests, their history and dead letters older than `before`. */
  prune(before: number): number {
    return this.#write.prune(before);
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
}
