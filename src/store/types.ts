/**
 * The store's plug point: one interface, two implementations — SQLite (one
 * instance, `store.path`, the embedded default) and PostgreSQL (`store.url`,
 * several instances sharing one truth). The rest of mandrill does not know
 * which one it has: methods that may wait on the network return
 * `MaybePromise`s (SQLite answers synchronously), writes join an open batch
 * that one commit makes durable.
 * @module
 */
import type { RestartRequest } from "../contract/messages.ts";
import type { OutageRow } from "./outages.ts";

/** A value, or a promise of it: SQLite answers at once, PostgreSQL over the network. */
export type MaybePromise<T> = T | Promise<T>;

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

/** The start of an execution, as history records it. */
export type HistoryStart = Omit<
  HistoryRow,
  "finishedAt" | "outcome" | "detail" | "durationMs" | "recoveredAt" | "recoveryMs"
>;

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

/** What an intake commit made durable. */
export interface IntakeCommit {
  /** Requests new to the store, in arrival order: hand them to the dispatcher. */
  accepted: InboxRow[];
  /** Ids that were already known (redeliveries, duplicates): acknowledged and ignored. */
  duplicates: string[];
}

/**
 * Facts only a shared store knows: what every instance holds and has done.
 * A single instance's memory already knows them (SQLite never asks).
 */
export interface SharedFacts {
  /** Every host held by a restart, fleet-wide. */
  outages: OutageRow[];
  /** When the row's host was last restarted, by any instance. */
  lastRestartAt?: number;
  /** Restarts started in the hour before now, fleet-wide. */
  restartsLastHour: number;
}

/** The gate's answer on shared facts, inside the start's transaction. */
export type StartVerdict =
  | { kind: "allow" }
  | { kind: "wait"; code: "group" | "fleet"; reason: string }
  | { kind: "skip"; code: string; reason: string };

/** How {@linkcode Store.tryStart} ended. */
export type StartResult =
  | { kind: "started" }
  /** The row is no longer pending (ended, or claimed by another instance): do nothing. */
  | { kind: "gone" }
  /** The store cannot be reached now (nothing was written): try again later. */
  | { kind: "unavailable"; detail: string }
  /** The shared facts refused it: wait, or skip, as the verdict says. Nothing was written. */
  | { kind: "refused"; verdict: Exclude<StartVerdict, { kind: "allow" }> };

/** What one start writes, together. */
export interface StartRequest {
  row: InboxRow;
  /** The host's outage (`restarting`). */
  outage: OutageRow;
  history: HistoryStart;
  now: number;
}

/** One mandrill instance on a shared store. */
export interface InstanceInfo {
  /** Its MQTT client id (unique per instance). */
  id: string;
  /** The topic it takes requests on (`{p}/restart`). */
  topic: string;
  /** Its shared subscription group, if any. */
  sharedGroup: string | null;
}

/** The durable store; see the module doc. */
export interface Store {
  /** `sqlite` (one instance) or `postgres` (shared by every instance). */
  readonly kind: "sqlite" | "postgres";
  /** False once closed. */
  readonly isOpen: boolean;
  /** Why the store cannot take writes now (disk full, database unreachable), for `/readyz`; undefined when it can. */
  readonly problem: string | undefined;

  // Intake: group commit. Writes join the open intake batch; the PUBACKs of a
  // batch leave only once commitIntake() resolved.
  /** Adds a validated request to the open intake batch. */
  insertRequest(req: RestartRequest, now: number): void;
  /** Adds a dead letter to the open intake batch. */
  addDeadLetter(dl: DeadLetterRow): void;
  /** Makes the intake batch durable. Rejects (nothing durable, nothing to acknowledge) when it cannot. */
  commitIntake(): MaybePromise<IntakeCommit>;

  // Dispatch
  /**
   * Up to `limit` pending rows with `seq` above `afterSeq`, oldest first.
   * PostgreSQL: rows this instance holds a lease on, and unclaimed rows (or
   * rows whose lease expired) claimed for it now.
   */
  nextPending(afterSeq: number, limit: number): MaybePromise<InboxRow[]>;
  /**
   * Starts a restart: the row becomes `started` and the host's outage and
   * history start are written, in one transaction. PostgreSQL first takes
   * the fleet-wide lock, reads {@linkcode SharedFacts} and asks `recheck`: the
   * budget, `minIntervalSec` and `maxPerHour` hold fleet-wide, with no
   * check-then-act race between instances. Durable when it resolves.
   */
  tryStart(
    start: StartRequest,
    recheck: (facts: SharedFacts) => StartVerdict,
  ): Promise<StartResult>;

  // The execution side's batch: these join the open batch; commitBatch() makes them durable.
  /** Ends a row with its outcome unless it has already ended (the first end is kept). */
  finishLater(row: InboxRow, outcome: Outcome, detail: string | null, now: number): void;
  historyFinish(
    id: string,
    outcome: string,
    detail: string | null,
    finishedAt: number,
    durationMs: number,
  ): void;
  historyRecovered(id: string, recoveredAt: number, recoveryMs: number): void;
  /** The host did not come back: the execution failed after all. */
  historyNotBack(id: string, detail: string): void;
  /** Records (or replaces) the outage of `row.host`. */
  putOutage(row: OutageRow): void;
  /** Ends the outage of `host` caused by restart `id` (a newer one is kept). */
  deleteOutage(host: string, id: string): void;
  /** Runs `fn` once the open batch committed (at once if none is open); never if it fails. */
  afterCommit(fn: () => void): void;
  /** Commits the open batch. */
  commitBatch(): MaybePromise<void>;

  // Start-up and upkeep
  /**
   * Rows left `started` by a run that is gone become `interrupted` (never run
   * again), exactly once: SQLite, every one (one instance); PostgreSQL, those
   * of instances whose lease expired. Returns them.
   */
  interruptStarted(now: number): MaybePromise<InboxRow[]>;
  /**
   * Outages to watch: SQLite, every one; PostgreSQL, this instance's and
   * those whose owner's lease expired, taken over now.
   */
  adoptOutages(now: number): MaybePromise<OutageRow[]>;
  /** Every outage, fleet-wide (the budget's view of restarts on other instances). */
  outages(): MaybePromise<OutageRow[]>;
  /**
   * Pending rows an instance that is gone held (its lease expired), claimed
   * for this one now, oldest first. SQLite: none (one instance).
   */
  adoptPending(limit: number): MaybePromise<InboxRow[]>;
  /**
   * Whether this instance runs the chaos schedule of `group` now: it holds
   * (or takes, from an instance that is gone) the group's turn for `ttlMs`.
   * SQLite: always (one instance).
   */
  chaosTurn(group: string, ttlMs: number): MaybePromise<boolean>;
  /**
   * Announces this instance (its topic and shared group) and returns the
   * other live instances on the same store. SQLite: none.
   */
  peers(self: InstanceInfo): MaybePromise<InstanceInfo[]>;
  /** Executions started at or after `since` (ms), oldest first: feeds the rate limits. */
  restartsSince(since: number): MaybePromise<{ host: string; startedAt: number }[]>;
  /** Executions that failed (or did not come back) at or after `since`: feeds the breaker. */
  failuresSince(since: number): MaybePromise<{ id: string; host: string; at: number }[]>;
  metaGet(key: string): MaybePromise<string | undefined>;
  metaSet(key: string, value: string): MaybePromise<void>;
  /** Deletes finished requests, their history and dead letters older than `before`. */
  prune(before: number): MaybePromise<number>;
  /** Periodic upkeep (SQLite: moves the write-ahead log into the database). */
  checkpoint(): void;
  close(): MaybePromise<void>;

  // Reads, for the CLI, the status page and tests
  get(id: string): MaybePromise<InboxRow | undefined>;
  historyGet(id: string): MaybePromise<HistoryRow | undefined>;
  listRequests(options?: { host?: string; limit?: number }): MaybePromise<RequestView[]>;
  deadLetters(limit?: number): MaybePromise<DeadLetterRow[]>;
  counts(): MaybePromise<Record<InboxState, number>>;
  pendingCount(): MaybePromise<number>;
}
