/**
 * The `outage` and `meta` tables: hosts mandrill made unavailable (being
 * restarted, coming back, not back) — so the unavailability budget and
 * recovery tracking survive a restart of mandrill — and small facts to keep
 * (the last verified kill switch state). Used through `Store.outages` and
 * `Store.meta`, inside the store's group commit.
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Why mandrill holds a host unavailable. */
export type OutageState = "restarting" | "coming_back" | "not_back";

/** One host mandrill made unavailable. */
export interface OutageRow {
  host: string;
  /** The request id of the restart. */
  id: string;
  state: OutageState;
  /** Config name of the executor that restarted it. */
  executor: string;
  /** When the restart started, ms. */
  startedAt: number;
  /** The host's boot id before the restart, when known. */
  bootIdBefore: string | null;
  /** When it entered `state`, ms. */
  since: number;
  /** The restart was interrupted (mandrill stopped): whether it happened is unknown. */
  interrupted: boolean;
  /** Why, for `not_back`. */
  detail: string | null;
  /** A shared store: the instance that watches it. */
  owner?: string;
}

/** Prepares the write (opening the group-commit batch when `deferred`). */
export type PrepareWrite = (deferred: boolean) => void;

/** The outage table; see the module doc. */
export class OutageTable {
  readonly #put: StatementSync;
  readonly #delete: StatementSync;
  readonly #all: StatementSync;
  readonly #prepare: PrepareWrite;

  /** Prepares its statements on `db`; `prepare` runs before every write. */
  constructor(db: DatabaseSync, prepare: PrepareWrite) {
    this.#prepare = prepare;
    this.#put = db.prepare(
      `INSERT INTO outage (host, id, state, executor, started_at, boot_id_before, since, interrupted, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(host) DO UPDATE SET id = excluded.id, state = excluded.state,
         executor = excluded.executor, started_at = excluded.started_at,
         boot_id_before = excluded.boot_id_before, since = excluded.since,
         interrupted = excluded.interrupted, detail = excluded.detail`,
    );
    this.#delete = db.prepare(`DELETE FROM outage WHERE host = ? AND id = ?`);
    this.#all = db.prepare(`SELECT * FROM outage ORDER BY started_at`);
  }

  /** Records (or replaces) the outage of `row.host`. */
  put(row: OutageRow, options: { deferCommit?: boolean } = {}): void {
    this.#prepare(options.deferCommit ?? false);
    this.#put.run(
      row.host,
      row.id,
      row.state,
      row.executor,
      row.startedAt,
      row.bootIdBefore,
      row.since,
      row.interrupted ? 1 : 0,
      row.detail,
    );
  }

  /** Ends the outage of `host` caused by restart `id` (a newer one is kept). */
  delete(host: string, id: string, options: { deferCommit?: boolean } = {}): void {
    this.#prepare(options.deferCommit ?? false);
    this.#delete.run(host, id);
  }

  /** Every outage, oldest restart first. */
  all(): OutageRow[] {
    return (this.#all.all() as Record<string, unknown>[]).map((r) => ({
      host: r.host as string,
      id: r.id as string,
      state: r.state as OutageState,
      executor: r.executor as string,
      startedAt: r.started_at as number,
      bootIdBefore: (r.boot_id_before as string | null) ?? null,
      since: r.since as number,
      interrupted: r.interrupted === 1,
      detail: (r.detail as string | null) ?? null,
    }));
  }
}

/** The meta table: small named values, as text (JSON where structured). */
export class MetaTable {
  readonly #get: StatementSync;
  readonly #set: StatementSync;
  readonly #prepare: PrepareWrite;

  /** Prepares its statements on `db`; `prepare` runs before every write. */
  constructor(db: DatabaseSync, prepare: PrepareWrite) {
    this.#prepare = prepare;
    this.#get = db.prepare(`SELECT value FROM meta WHERE key = ?`);
    this.#set = db.prepare(
      `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
    );
  }

  /** The value of `key`, if set. */
  get(key: string): string | undefined {
    return (this.#get.get(key) as { value: string } | undefined)?.value;
  }

  /** Sets `key` to `value`, committed at once. */
  set(key: string, value: string): void {
    this.#prepare(false);
    this.#set.run(key, value);
  }
}
