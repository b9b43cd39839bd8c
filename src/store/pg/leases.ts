/**
 * Leases on a shared store: this instance renews, every third of
 * `store.leaseSec`, its claim on the rows it holds (pending and started), on
 * the hosts it watches (outages) and on its entry in the instance table.
 * What an instance that is gone held — its lease expired on the database's
 * clock — is taken over by another: its outages (watched on), its chaos turn.
 * @module
 */
import { errorMessage, log } from "../../log.ts";
import type { OutageRow } from "../outages.ts";
import type { InstanceInfo } from "../types.ts";
import { type Db, dbNow, sqlFragment } from "./sql.ts";

/** Options of {@linkcode PgLeases}. */
export interface PgLeasesOptions {
  /** This run's id (`{instance}#{random}`). */
  me: string;
  /** The instance part, shared with this instance's previous runs. */
  base: string;
  leaseMs: number;
  /** Named in `problem`. */
  what: string;
}

/** An outage row from its table row. */
export function outageRow(r: Record<string, unknown>): OutageRow {
  return {
    host: r.host as string,
    id: r.id as string,
    state: r.state as OutageRow["state"],
    executor: r.executor as string,
    startedAt: Number(r.started_at),
    bootIdBefore: (r.boot_id_before as string | null) ?? null,
    since: Number(r.since),
    interrupted: r.interrupted === true,
    detail: (r.detail as string | null) ?? null,
    owner: r.owner as string,
  };
}

/** Renews and takes over leases; see the module doc. */
export class PgLeases {
  readonly #sql: Db;
  readonly #o: PgLeasesOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #renewing: Promise<void> | undefined;
  #problem: string | undefined;
  #failures = 0;
  #self: InstanceInfo | undefined;

  /** Renews nothing until {@linkcode start}. */
  constructor(sql: Db, options: PgLeasesOptions) {
    this.#sql = sql;
    this.#o = options;
  }

  /** Why leases could not be renewed lately, if so. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Renews every third of the lease from now on. */
  start(): void {
    this.#timer ??= setInterval(() => {
      if (this.#renewing === undefined) {
        this.#renewing = this.#renew().finally(() => this.#renewing = undefined);
      }
    }, Math.max(100, Math.floor(this.#o.leaseMs / 3)));
  }

  async #renew(): Promise<void> {
    const sql = this.#sql;
    const until = sqlFragment`${dbNow()} + ${this.#o.leaseMs}`;
    try {
      await sql.begin(async (tx) => {
        await tx`UPDATE inbox SET lease_until = ${until}
                 WHERE claimed_by = ${this.#o.me} AND state IN ('pending', 'started')`;
        await tx`UPDATE outage SET lease_until = ${until} WHERE owner = ${this.#o.me}`;
        await tx`UPDATE chaos_turn SET lease_until = ${until} WHERE owner = ${this.#o.me}`;
        if (this.#self) {
          await tx`UPDATE instance SET seen_at = ${dbNow()} WHERE id = ${this.#o.me}`;
        }
      });
      if (this.#problem) {
        log("store").info("Leases on the {what} renewed again", { what: this.#o.what });
      }
      this.#problem = undefined;
      this.#failures = 0;
    } catch (err) {
      this.#problem = `cannot renew leases on the ${this.#o.what}: ${errorMessage(err)}`;
      if (this.#failures++ % 30 === 0) log("store").warn("{problem}", { problem: this.#problem });
    }
  }

  /** Outages this instance watches: its previous runs', and those whose owner is gone, taken over. */
  async adoptOutages(): Promise<OutageRow[]> {
    const sql = this.#sql;
    const rows = await sql`
      UPDATE outage SET owner = ${this.#o.me}, lease_until = ${dbNow()} + ${this.#o.leaseMs}
      WHERE owner <> ${this.#o.me}
        AND (split_part(owner, '#', 1) = ${this.#o.base} OR lease_until < ${dbNow()})
      RETURNING *`;
    return rows.map(outageRow);
  }

  /** Whether this instance holds (or now takes) the chaos turn of `group` for `ttlMs`. */
  async chaosTurn(group: string, ttlMs: number): Promise<boolean> {
    const sql = this.#sql;
    const rows = await sql`
      INSERT INTO chaos_turn (grp, owner, lease_until)
      VALUES (${group}, ${this.#o.me}, ${dbNow()} + ${ttlMs})
      ON CONFLICT (grp) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
        WHERE chaos_turn.owner = ${this.#o.me} OR chaos_turn.lease_until < ${dbNow()}
      RETURNING owner`;
    return rows.length === 1;
  }

  /** Announces this instance and returns the other live ones. */
  async peers(self: InstanceInfo): Promise<InstanceInfo[]> {
    this.#self = self;
    const sql = this.#sql;
    await sql`
      INSERT INTO instance (id, topic, shared_group, started_at, seen_at)
      VALUES (${this.#o.me}, ${self.topic}, ${self.sharedGroup}, ${dbNow()}, ${dbNow()})
      ON CONFLICT (id) DO UPDATE SET topic = excluded.topic, shared_group = excluded.shared_group,
        seen_at = excluded.seen_at`;
    await sql`DELETE FROM instance WHERE seen_at < ${dbNow()} - ${10 * this.#o.leaseMs}`;
    const rows = await sql`
      SELECT id, topic, shared_group FROM instance
      WHERE id <> ${this.#o.me} AND split_part(id, '#', 1) <> ${this.#o.base}
        AND seen_at >= ${dbNow()} - ${this.#o.leaseMs}`;
    return rows.map((r) => ({
      id: (r.id as string).split("#")[0]!,
      topic: r.topic as string,
      sharedGroup: (r.shared_group as string | null) ?? null,
    }));
  }

  /**
   * Lets go of this run's pending rows (unclaimed: anyone takes them) and
   * outages (expired: another instance watches them at once). Its started
   * rows stay: after their lease another instance ends them interrupted.
   */
  async release(): Promise<void> {
    const sql = this.#sql;
    await sql.begin(async (tx) => {
      await tx`UPDATE inbox SET claimed_by = NULL, lease_until = NULL
               WHERE claimed_by = ${this.#o.me} AND state = 'pending'`;
      await tx`UPDATE outage SET lease_until = 0 WHERE owner = ${this.#o.me}`;
      await tx`UPDATE chaos_turn SET lease_until = 0 WHERE owner = ${this.#o.me}`;
    });
  }

  /** Stops renewing (the leases then expire, and others take over). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#renewing;
    if (this.#self) {
      await this.#sql`DELETE FROM instance WHERE id = ${this.#o.me}`.catch(() => {});
    }
  }
}
