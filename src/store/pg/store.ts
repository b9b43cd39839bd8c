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
import { CommitLoop } from "../commit_loop.ts";
import { historyRow, inboxRow } from "../sqlite_sql.ts";
import type { OutageRow } from "../outages.ts";
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
} from "../types.ts";
import { errorMessage, log } from "../../log.ts";
import { redactUrl } from "../../url.ts";
import type { RestartRequest } from "../../contract/messages.ts";
import {
  connect,
  type ConnectOptions,
  type Db,
  dbNow,
  type Row,
  type Tx,
  valuesList,
} from "./sql.ts";
import { checkSchema, migrate } from "./schema.ts";
import { outageRow, PgLeases } from "./leases.ts";

/** Options of {@linkcode PgStore.open}. */
export interface PgStoreOptions extends ConnectOptions {
  /** This instance's id (its MQTT client id): what its leases are held in. Required. */
  instance: string;
  /** How long a lease lasts without renewal, ms (`store.leaseSec`). Default: 15,000. */
  leaseMs?: number;
  /** Only to read (`mandrill history`): no migration, no leases. Default: false. */
  reader?: boolean;
}

/** Key of the fleet-wide lock every start takes. */
const _START_LOCK = 72_613_002;

/** The PostgreSQL-backed store; see the module doc. */
export class PgStore implements Store {
  readonly kind = "postgres" as const;
  readonly #sql: Db;
  /** This run of this instance: `{instance}#{random}`; its previous runs share the instance part. */
  readonly #me: string;
  readonly #base: string;
  readonly #leaseMs: number;
  readonly #what: string;
  readonly #loop: CommitLoop;
  readonly #leases: PgLeases;
  #closed = false;
  #intakeProblem: string | undefined;
  #intake: { req: RestartRequest; now: number }[] = [];
  #deadLetters: DeadLetterRow[] = [];
  #ends = new Map<number, [Outcome, string | null, number]>();
  #ops: ((tx: Tx) => Promise<unknown>)[] = [];
  #afterCommit: (() => void)[] = [];
  /** Ids whose start is being written (kept out of `nextPending`). */
  readonly #starting = new Set<string>();

  private constructor(sql: Db, options: PgStoreOptions, what: string) {
    this.#sql = sql;
    this.#base = options.instance;
    this.#me = `${options.instance}#${crypto.randomUUID().slice(0, 8)}`;
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.#what = what;
    this.#loop = new CommitLoop({ commit: () => this.#commitBatch(), what });
    this.#leases = new PgLeases(sql, {
      me: this.#me,
      base: this.#base,
      leaseMs: this.#leaseMs,
      what,
    });
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
    this.#intake.push({ req, now });
  }

  addDeadLetter(dl: DeadLetterRow): void {
    this.#deadLetters.push(dl);
  }

  /** One transaction: the requests (claimed by this instance), the dead letters. */
  async commitIntake(): Promise<IntakeCommit> {
    const requests = this.#intake;
    const deadLetters = this.#deadLetters;
    this.#intake = [];
    this.#deadLetters = [];
    const result: IntakeCommit = { accepted: [], duplicates: [] };
    if (requests.length === 0 && deadLetters.length === 0) return result;
    const sql = this.#sql;
    try {
      const inserted = await sql.begin(async (tx) => {
        let rows: Row[] = [];
        if (requests.length > 0) {
          const values = requests.map((
            { req, now },
          ) => [req.id, req.host, JSON.stringify(req), now]);
          rows = await tx`
            INSERT INTO inbox (id, host, request, state, received_at, claimed_by, lease_until)
            SELECT v.id, v.host, v.request, 'pending', v.received_at::bigint, ${this.#me},
                   ${dbNow()} + ${this.#leaseMs}
            FROM (VALUES ${valuesList(values)}) AS v (id, host, request, received_at)
            ON CONFLICT (id) DO NOTHING
            RETURNING seq, id`;
        }
        if (deadLetters.length > 0) {
          const values = deadLetters.map((d) => [d.topic, d.payload, d.error, d.ts]);
          await tx`
            INSERT INTO deadletter (topic, payload, error, ts)
            SELECT v.topic, v.payload, v.error, v.ts::bigint
            FROM (VALUES ${valuesList(values)}) AS v (topic, payload, error, ts)`;
        }
        return rows;
      });
      this.#intakeProblem = undefined;
      const seqOf = new Map(inserted.map((r) => [r.id as string, Number(r.seq)]));
      for (const { req, now } of requests) {
        const seq = seqOf.get(req.id);
        if (seq === undefined) {
          result.duplicates.push(req.id);
          continue;
        }
        seqOf.delete(req.id); // a second copy in the same batch is a duplicate
        result.accepted.push(_newRow(seq, req, now));
      }
      result.accepted.sort((a, b) => a.seq - b.seq);
      return result;
    } catch (err) {
      this.#intakeProblem = `cannot write to the ${this.#what}: ${errorMessage(err)}`;
      throw err;
    }
  }

  // --- Dispatch -----------------------------------------------------------

  /** Pending rows after `afterSeq` this instance holds or may take (unclaimed, or a dead instance's). */
  async nextPending(afterSeq: number, limit: number): Promise<InboxRow[]> {
    const sql = this.#sql;
    const rows = await sql`
      UPDATE inbox SET claimed_by = ${this.#me}, lease_until = ${dbNow()} + ${this.#leaseMs}
      WHERE seq IN (
        SELECT seq FROM inbox
        WHERE state = 'pending' AND seq > ${afterSeq}
          AND (claimed_by = ${this.#me} OR claimed_by IS NULL
               OR split_part(claimed_by, '#', 1) = ${this.#base} OR lease_until < ${dbNow()})
        ORDER BY seq LIMIT ${limit + this.#ends.size}
        FOR UPDATE SKIP LOCKED)
      RETURNING *`;
    return rows.map(inboxRow).sort((a, b) => a.seq - b.seq)
      .filter((r) => !this.#ends.has(r.seq) && !this.#starting.has(r.id)).slice(0, limit);
  }

  /**
   * Pending rows no live instance holds — their instance is gone (its lease
   * expired), stopped and let them go, or was this one's previous run —
   * claimed for this one, oldest first.
   */
  async adoptPending(limit: number): Promise<InboxRow[]> {
    const sql = this.#sql;
    const rows = await sql`
      UPDATE inbox SET claimed_by = ${this.#me}, lease_until = ${dbNow()} + ${this.#leaseMs}
      WHERE seq IN (
        SELECT seq FROM inbox
        WHERE state = 'pending'
          AND (claimed_by IS NULL OR (claimed_by <> ${this.#me}
               AND (split_part(claimed_by, '#', 1) = ${this.#base} OR lease_until < ${dbNow()})))
        ORDER BY seq LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING *`;
    return rows.map(inboxRow).sort((a, b) => a.seq - b.seq)
      .filter((r) => !this.#ends.has(r.seq) && !this.#starting.has(r.id));
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
      return await this.#sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${_START_LOCK})`;
        const [mine] = await tx`
          SELECT state, claimed_by FROM inbox WHERE id = ${start.row.id} FOR UPDATE`;
        if (mine?.claimed_by !== this.#me) return { kind: "gone" } as const;
        // Started by an earlier try whose COMMIT's answer was lost: it did not run; it runs now.
        if (mine.state === "started") return { kind: "started" } as const;
        if (mine.state !== "pending") return { kind: "gone" } as const;
        const facts = await this.#facts(tx, start);
        const verdict = recheck(facts);
        if (verdict.kind !== "allow") return { kind: "refused", verdict } as const;
        await tx`
          UPDATE inbox SET state = 'started', started_at = ${start.now},
                 lease_until = ${dbNow()} + ${this.#leaseMs}
          WHERE id = ${start.row.id}`;
        await this.#putOutage(tx, start.outage);
        const h = start.history;
        await tx`
          INSERT INTO history (id, host, executor, requested_by, reason, started_at)
          VALUES (${h.id}, ${h.host}, ${h.executor}, ${h.requestedBy}, ${h.reason}, ${h.startedAt})
          ON CONFLICT (id) DO NOTHING`;
        return { kind: "started" } as const;
      });
    } catch (err) {
      return {
        kind: "unavailable",
        detail: `cannot write to the ${this.#what}: ${errorMessage(err)}`,
      };
    } finally {
      this.#starting.delete(start.row.id);
    }
  }

  async #facts(tx: Tx, start: StartRequest): Promise<SharedFacts> {
    const outages = (await tx`SELECT * FROM outage`).map(outageRow);
    const counted = await tx`
      SELECT count(*)::bigint AS n FROM history WHERE started_at > ${start.now - 3_600_000}`;
    const latest = await tx`
      SELECT max(started_at) AS last FROM history WHERE host = ${start.row.host}`;
    const facts: SharedFacts = { outages, restartsLastHour: Number(counted[0]?.n ?? 0) };
    const last = latest[0]?.last;
    if (last !== null && last !== undefined) facts.lastRestartAt = Number(last);
    return facts;
  }

  #putOutage(tx: Tx, o: OutageRow) {
    return tx`
      INSERT INTO outage (host, id, state, executor, started_at, boot_id_before, since,
                          interrupted, detail, owner, lease_until)
      VALUES (${o.host}, ${o.id}, ${o.state}, ${o.executor}, ${o.startedAt}, ${o.bootIdBefore},
              ${o.since}, ${o.interrupted}, ${o.detail}, ${this.#me}, ${dbNow()} + ${this.#leaseMs})
      ON CONFLICT (host) DO UPDATE SET id = excluded.id, state = excluded.state,
        executor = excluded.executor, started_at = excluded.started_at,
        boot_id_before = excluded.boot_id_before, since = excluded.since,
        interrupted = excluded.interrupted, detail = excluded.detail,
        owner = excluded.owner, lease_until = excluded.lease_until`;
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
    this.#queue((tx) => this.#putOutage(tx, row));
  }

  deleteOutage(host: string, id: string): void {
    this.#queue((tx) => tx`DELETE FROM outage WHERE host = ${host} AND id = ${id}`);
  }

  afterCommit(fn: () => void): void {
    if (this.#ends.size > 0 || this.#ops.length > 0) this.#afterCommit.push(fn);
    else fn();
  }

  commitBatch(): Promise<void> {
    return this.#loop.now();
  }

  #queue(op: (tx: Tx) => Promise<unknown>): void {
    this.#ops.push(op);
    this.#loop.soon();
  }

  async #commitBatch(): Promise<void> {
    if (this.#closed || (this.#ends.size === 0 && this.#ops.length === 0)) return;
    const ends = [...this.#ends];
    const ops = [...this.#ops];
    const after = [...this.#afterCommit];
    await this.#sql.begin(async (tx) => {
      if (ends.length > 0) {
        const values = ends.map(([seq, [outcome, detail, now]]) => [seq, outcome, detail, now]);
        await tx`
          UPDATE inbox SET state = 'done', outcome = v.outcome, detail = v.detail,
                 finished_at = v.finished_at::bigint
          FROM (VALUES ${valuesList(values)}) AS v (seq, outcome, detail, finished_at)
          WHERE inbox.seq = v.seq::bigint AND inbox.state <> 'done'`;
      }
      for (const op of ops) await op(tx);
    });
    // Committed: only now is anything dropped (new writes may have come meanwhile).
    for (const [seq] of ends) this.#ends.delete(seq);
    this.#ops = this.#ops.slice(ops.length);
    this.#afterCommit = this.#afterCommit.slice(after.length);
    for (const fn of after) fn();
  }

  // --- Start-up, takeover and upkeep -------------------------------------

  /**
   * Started rows of this instance's previous runs, and of instances that are
   * gone (lease expired), become interrupted — exactly once, whoever sees them first.
   */
  async interruptStarted(now: number): Promise<InboxRow[]> {
    const sql = this.#sql;
    return await sql.begin(async (tx) => {
      const rows = await tx`
        UPDATE inbox SET state = 'done', outcome = 'interrupted',
               detail = 'mandrill stopped while the restart was running', finished_at = ${now}
        WHERE state = 'started' AND claimed_by <> ${this.#me}
          AND (split_part(claimed_by, '#', 1) = ${this.#base} OR lease_until < ${dbNow()})
        RETURNING *`;
      if (rows.length > 0) {
        const ids = rows.map((r) => r.id as string);
        await tx`UPDATE history SET finished_at = ${now}, outcome = 'interrupted',
                   detail = 'mandrill stopped' WHERE id = ANY(${ids})`;
      }
      return rows.map(inboxRow);
    });
  }

  adoptOutages(_now: number): Promise<OutageRow[]> {
    return this.#leases.adoptOutages();
  }

  async outages(): Promise<OutageRow[]> {
    return (await this.#sql`SELECT * FROM outage`).map(outageRow);
  }

  chaosTurn(group: string, ttlMs: number): Promise<boolean> {
    return this.#leases.chaosTurn(group, ttlMs);
  }

  peers(self: InstanceInfo): Promise<InstanceInfo[]> {
    return this.#leases.peers(self);
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

  // --- Reads --------------------------------------------------------------

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
