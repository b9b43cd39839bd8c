/**
 * The PostgreSQL store's claims on rows: requests come in claimed by the
 * instance that took them, pending rows are claimed page by page (unclaimed
 * ones, its previous runs', those of an instance whose lease expired), a
 * start is decided under one fleet-wide lock on the shared facts, and what a
 * run that is gone left started ends interrupted.
 * @module
 */
import type { IntakeWrites } from "../batch.ts";
import type { OutageRow } from "../outages.ts";
import { inboxRow, pendingRow } from "../rows.ts";
import type {
  InboxRow,
  IntakeCommit,
  SharedFacts,
  StartRequest,
  StartResult,
  StartVerdict,
} from "../types.ts";
import type { PgLeasesOptions } from "./leases.ts";
import { outageRow } from "./leases.ts";
import { type Db, dbNow, type Row, type Tx, valuesList } from "./sql.ts";

/** Key of the fleet-wide lock every start takes. */
const _START_LOCK = 72_613_002;

/** Claims rows for one run of one instance; see the module doc. */
export class PgClaims {
  readonly #sql: Db;
  readonly #me: string;
  readonly #base: string;
  readonly #leaseMs: number;

  /** Claims for `options.me`, for `options.leaseMs` at a time. */
  constructor(sql: Db, options: Pick<PgLeasesOptions, "me" | "base" | "leaseMs">) {
    this.#sql = sql;
    this.#me = options.me;
    this.#base = options.base;
    this.#leaseMs = options.leaseMs;
  }

  /** One transaction: the requests (claimed by this instance), the dead letters. */
  async intake({ requests, deadLetters }: IntakeWrites): Promise<IntakeCommit> {
    const inserted = await this.#sql.begin(async (tx) => {
      let rows: Row[] = [];
      if (requests.length > 0) {
        const values = requests.map(({ req, now }) => [req.id, req.host, JSON.stringify(req), now]);
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
    const result: IntakeCommit = { accepted: [], duplicates: [] };
    const seqOf = new Map(inserted.map((r) => [r.id as string, Number(r.seq)]));
    for (const { req, now } of requests) {
      const seq = seqOf.get(req.id);
      if (seq === undefined) {
        result.duplicates.push(req.id);
        continue;
      }
      seqOf.delete(req.id); // a second copy in the same batch is a duplicate
      result.accepted.push(pendingRow(seq, req, now));
    }
    result.accepted.sort((a, b) => a.seq - b.seq);
    return result;
  }

  /** Up to `limit` pending rows after `afterSeq` this instance holds or may take, claimed, oldest first. */
  async pendingAfter(afterSeq: number, limit: number): Promise<InboxRow[]> {
    const rows = await this.#sql`
      UPDATE inbox SET claimed_by = ${this.#me}, lease_until = ${dbNow()} + ${this.#leaseMs}
      WHERE seq IN (
        SELECT seq FROM inbox
        WHERE state = 'pending' AND seq > ${afterSeq}
          AND (claimed_by = ${this.#me} OR claimed_by IS NULL
               OR split_part(claimed_by, '#', 1) = ${this.#base} OR lease_until < ${dbNow()})
        ORDER BY seq LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING *`;
    return rows.map(inboxRow).sort((a, b) => a.seq - b.seq);
  }

  /** Up to `limit` pending rows no live instance holds, claimed, oldest first. */
  async adopt(limit: number): Promise<InboxRow[]> {
    const rows = await this.#sql`
      UPDATE inbox SET claimed_by = ${this.#me}, lease_until = ${dbNow()} + ${this.#leaseMs}
      WHERE seq IN (
        SELECT seq FROM inbox
        WHERE state = 'pending'
          AND (claimed_by IS NULL OR (claimed_by <> ${this.#me}
               AND (split_part(claimed_by, '#', 1) = ${this.#base} OR lease_until < ${dbNow()})))
        ORDER BY seq LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING *`;
    return rows.map(inboxRow).sort((a, b) => a.seq - b.seq);
  }

  /** The start's transaction (see `PgStore.tryStart`); throws when the database cannot be reached. */
  start(
    start: StartRequest,
    recheck: (facts: SharedFacts) => StartVerdict,
  ): Promise<StartResult> {
    return this.#sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${_START_LOCK})`;
      const [mine] = await tx`
        SELECT state, claimed_by FROM inbox WHERE id = ${start.row.id} FOR UPDATE`;
      if (mine?.claimed_by !== this.#me) return { kind: "gone" } as const;
      // Started by an earlier try whose COMMIT's answer was lost: it did not run; it runs now.
      if (mine.state === "started") return { kind: "started" } as const;
      if (mine.state !== "pending") return { kind: "gone" } as const;
      const verdict = recheck(await this.#facts(tx, start));
      if (verdict.kind !== "allow") return { kind: "refused", verdict } as const;
      await tx`
        UPDATE inbox SET state = 'started', started_at = ${start.now},
               lease_until = ${dbNow()} + ${this.#leaseMs}
        WHERE id = ${start.row.id}`;
      await this.putOutage(tx, start.outage);
      const h = start.history;
      await tx`
        INSERT INTO history (id, host, executor, requested_by, reason, started_at)
        VALUES (${h.id}, ${h.host}, ${h.executor}, ${h.requestedBy}, ${h.reason}, ${h.startedAt})
        ON CONFLICT (id) DO NOTHING`;
      return { kind: "started" } as const;
    });
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

  /** Records (or replaces) the outage of `o.host`, watched by this instance. */
  putOutage(tx: Tx, o: OutageRow): Promise<Row[]> {
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

  /**
   * Started rows of this instance's previous runs, and of instances that are
   * gone (lease expired), become interrupted — exactly once, whoever sees them first.
   */
  interruptStarted(now: number): Promise<InboxRow[]> {
    return this.#sql.begin(async (tx) => {
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
}
