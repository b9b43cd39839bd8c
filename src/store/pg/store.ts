/**
 * The PostgreSQL store (`store.url`): one truth for every instance — the
 * inbox, history, dead letters, the hosts restarts hold, the kill switch's
 * last verified state. Rows are claimed with leases the instance renews
 * while it lives (`store.leaseSec`); what a dead instance held is taken over
 * once its leases expire. A start takes one fleet-wide lock and re-checks
 * the budget, `minIntervalSec` and `maxPerHour` on the shared facts in the
 * same transaction, so two instances can never both take the last slot.
 * @module
 */
import { ExecutionBatch, IntakeBatch } from "../batch.ts";
import { CommitLoop } from "../commit_loop.ts";
import type { OutageRow } from "../outages.ts";
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
} from "../types.ts";
import { errorMessage, log } from "../../log.ts";
import { redactUrl } from "../../url.ts";
import type { RestartRequest } from "../../contract/messages.ts";
import { connect, type ConnectOptions, type Db, type Tx, valuesList } from "./sql.ts";
import { checkSchema, migrate } from "./schema.ts";
import { PgClaims } from "./claims.ts";
import { PgLeases } from "./leases.ts";
import { PgReader } from "./reader.ts";

/** Options of {@linkcode PgStore.open}. */
export interface PgStoreOptions extends ConnectOptions {
  /** This instance's id (its MQTT client id): what its leases are held in. Required. */
  instance: string;
  /** How long a lease lasts without renewal, ms (`store.leaseSec`). Default: 15,000. */
  leaseMs?: number;
  /** Only to read (`mandrill history`): no migration, no leases. Default: false. */
  reader?: boolean;
}

/** The PostgreSQL-backed store; see the module doc. */
export class PgStore extends PgReader implements Store {
  readonly kind = "postgres" as const;
  readonly #sql: Db;
  readonly #what: string;
  readonly #loop: CommitLoop;
  readonly #leases: PgLeases;
  readonly #claims: PgClaims;
  #closed = false;
  #intakeProblem: string | undefined;
  readonly #intake = new IntakeBatch();
  /** The intake transaction in flight: the next one waits for it. */
  #intakeDone: Promise<unknown> = Promise.resolve();
  readonly #batch = new ExecutionBatch<(tx: Tx) => Promise<unknown>>();
  /** Ids whose start is being written (kept out of `nextPending`). */
  readonly #starting = new Set<string>();

  private constructor(sql: Db, options: PgStoreOptions, what: string) {
    super(sql);
    this.#sql = sql;
    // This run of this instance: `{instance}#{random}`; its previous runs share the instance part.
    const run = {
      me: `${options.instance}#${crypto.randomUUID().slice(0, 8)}`,
      base: options.instance,
      leaseMs: options.leaseMs ?? 15_000,
    };
    this.#what = what;
    this.#loop = new CommitLoop({ commit: () => this.#commitBatch(), what });
    this.#leases = new PgLeases(sql, { ...run, what });
    this.#claims = new PgClaims(sql, run);
  }

  /** Connects, migrates the schema and starts renewing this instance's leases. */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const sql = connect(options);
    const what = `store ${redactUrl(options.url)}`;
    try {
      if (options.reader) await checkSchema(sql);
      else await migrate(sql);
    } catch (err) {
      await sql.end({ timeoutSec: 1 }).catch(() => {});
      throw err;
    }
    const store = new PgStore(sql, options, what);
    if (!options.reader) store.#leases.start();
    return store;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  get problem(): string | undefined {
    return this.#loop.problem ?? this.#intakeProblem ?? this.#leases.problem;
  }

  // --- Intake -------------------------------------------------------------

  insertRequest(req: RestartRequest, now: number): void {
    this.#intake.add(req, now);
  }

  addDeadLetter(dl: DeadLetterRow): void {
    this.#intake.addDeadLetter(dl);
  }

  /**
   * One transaction: the requests (claimed by this instance), the dead
   * letters. One at a time: a row's seq is drawn as it is inserted, and the
   * dispatcher reads on from the last seq it took, so a commit's rows must
   * never get lower seqs than an earlier commit's.
   */
  async commitIntake(): Promise<IntakeCommit> {
    const writes = this.#intake.take();
    if (!writes) return { accepted: [], duplicates: [] };
    const done = this.#intakeDone.then(() => this.#claims.intake(writes));
    this.#intakeDone = done.catch(() => {});
    try {
      const result = await done;
      this.#intakeProblem = undefined;
      return result;
    } catch (err) {
      this.#intakeProblem = `cannot write to the ${this.#what}: ${errorMessage(err)}`;
      throw err;
    }
  }

  // --- Dispatch -----------------------------------------------------------

  /** Pending rows after `afterSeq` this instance holds or may take (unclaimed, or a dead instance's). */
  async nextPending(afterSeq: number, limit: number): Promise<InboxRow[]> {
    const rows = await this.#claims.pendingAfter(afterSeq, limit + this.#batch.endCount);
    return rows.filter((r) => this.#free(r)).slice(0, limit);
  }

  /**
   * Pending rows no live instance holds — their instance is gone (its lease
   * expired), stopped and let them go, or was this one's previous run —
   * claimed for this one, oldest first.
   */
  async adoptPending(limit: number): Promise<InboxRow[]> {
    return (await this.#claims.adopt(limit)).filter((r) => this.#free(r));
  }

  /** Neither ending nor starting in this instance now. */
  #free(r: InboxRow): boolean {
    return !this.#batch.ending(r.seq) && !this.#starting.has(r.id);
  }

  /**
   * The start, in one transaction under the fleet-wide lock: the row must
   * still be pending and this instance's; `recheck` decides on the shared
   * facts; then the row becomes `started` with its outage and history.
   */
  async tryStart(
    start: StartRequest,
    recheck: (facts: SharedFacts) => StartVerdict,
  ): Promise<StartResult> {
    if (this.#closed) throw new Error(`the ${this.#what} is closed`);
    this.#starting.add(start.row.id);
    try {
      return await this.#claims.start(start, recheck);
    } catch (err) {
      return {
        kind: "unavailable",
        detail: `cannot write to the ${this.#what}: ${errorMessage(err)}`,
      };
    } finally {
      this.#starting.delete(start.row.id);
    }
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
    this.#queue((tx) =>
      tx`UPDATE history SET finished_at = ${finishedAt}, outcome = ${outcome}, detail = ${detail},
           duration_ms = ${durationMs} WHERE id = ${id}`
    );
  }

  historyRecovered(id: string, recoveredAt: number, recoveryMs: number): void {
    this.#queue((tx) =>
      tx`UPDATE history SET recovered_at = ${recoveredAt}, recovery_ms = ${recoveryMs}
         WHERE id = ${id}`
    );
  }

  historyNotBack(id: string, detail: string): void {
    this.#queue((tx) =>
      tx`UPDATE history SET outcome = 'failed', detail = ${detail} WHERE id = ${id}`
    );
  }

  putOutage(row: OutageRow): void {
    this.#queue((tx) => this.#claims.putOutage(tx, row));
  }

  deleteOutage(host: string, id: string): void {
    this.#queue((tx) => tx`DELETE FROM outage WHERE host = ${host} AND id = ${id}`);
  }

  afterCommit(fn: () => void): void {
    if (!this.#batch.empty) this.#batch.onCommit(fn);
    else fn();
  }

  commitBatch(): Promise<void> {
    return this.#loop.now();
  }

  #queue(op: (tx: Tx) => Promise<unknown>): void {
    this.#batch.push(op);
    this.#loop.soon();
  }

  async #commitBatch(): Promise<void> {
    if (this.#closed || this.#batch.empty) return;
    const writes = this.#batch.take();
    await this.#sql.begin(async (tx) => {
      if (writes.ends.length > 0) {
        const values = writes.ends.map(([seq, end]) => [seq, ...end]);
        await tx`
          UPDATE inbox SET state = 'done', outcome = v.outcome, detail = v.detail,
                 finished_at = v.finished_at::bigint
          FROM (VALUES ${valuesList(values)}) AS v (seq, outcome, detail, finished_at)
          WHERE inbox.seq = v.seq::bigint AND inbox.state <> 'done'`;
      }
      for (const op of writes.ops) await op(tx);
    });
    this.#batch.committed(writes);
  }

  // --- Start-up, takeover and upkeep -------------------------------------

  /** Started rows of this instance's previous runs and of instances that are gone (lease expired) end interrupted, once. */
  interruptStarted(now: number): Promise<InboxRow[]> {
    return this.#claims.interruptStarted(now);
  }

  adoptOutages(_now: number): Promise<OutageRow[]> {
    return this.#leases.adoptOutages();
  }

  chaosTurn(group: string, ttlMs: number): Promise<boolean> {
    return this.#leases.chaosTurn(group, ttlMs);
  }

  peers(self: InstanceInfo): Promise<InstanceInfo[]> {
    return this.#leases.peers(self);
  }

  async metaSet(key: string, value: string): Promise<void> {
    await this.#sql`
      INSERT INTO meta (key, value) VALUES (${key}, ${value})
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
  }

  async prune(before: number): Promise<number> {
    return await this.#sql.begin(async (tx) => {
      const gone = await tx`
        DELETE FROM inbox WHERE state = 'done' AND finished_at < ${before} RETURNING seq`;
      await tx`DELETE FROM history WHERE started_at < ${before}
               AND id NOT IN (SELECT id FROM inbox)`;
      await tx`DELETE FROM deadletter WHERE ts < ${before}`;
      return gone.length;
    });
  }

  /** Nothing to do: PostgreSQL checkpoints by itself. */
  checkpoint(): void {}

  /**
   * Commits what is queued, then lets go of what this instance held: its
   * pending rows and the hosts it watched are taken over by the others at
   * once (not after the lease).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#loop.now().catch(() => {});
    await this.#loop.close();
    await this.#leases.stop();
    this.#closed = true;
    await this.#leases.release().catch((err) => {
      log("store").warn("Cannot hand over this instance's work on the {what}: {error}", {
        what: this.#what,
        error: errorMessage(err),
      });
    });
    await this.#sql.end({ timeoutSec: 5 });
  }
}
