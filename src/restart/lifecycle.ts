/**
 * A restart's whole life, owned by one module: started (the row marked, the
 * host held unavailable — in memory at once, on disk with the start mark) →
 * executed (see `execution.ts`; then history, the row's end, its event) →
 * coming back (tracked until a new boot, and a passing health check) → back,
 * or not back (still held until the host is seen again; see `watch.ts`). The
 * unavailability budget is held for the whole span; the breaker counts failures.
 * @module
 */
import type { RestartRequest } from "../contract/messages.ts";
import { describeOutcome } from "../executors/types.ts";
import { errorMessage, log } from "../log.ts";
import type { SkipCode } from "../pipeline/policy.ts";
import type {
  InboxRow,
  OutageRow,
  Outcome,
  SharedFacts,
  StartResult,
  StartVerdict,
} from "../store/mod.ts";
import { executeRestart, watchAfter } from "./execution.ts";
import type { RecoveryTracker } from "./recovery.ts";
import type { FinishedRestart, LiveRestart, PhaseInfo, RestartsOptions } from "./restart_types.ts";
import { resumeRestarts } from "./resume.ts";
import type { HostTarget } from "./topology.ts";
import { HostWatch, RecentRestarts } from "./watch.ts";

/**
 * How {@linkcode Restarts.run} ended: done (executed, or the row was gone),
 * refused by the fleet's facts, or not started because the shared store
 * cannot be reached (nothing was written: try again).
 */
export type RunResult =
  | { kind: "done" }
  | { kind: "refused"; verdict: Exclude<StartVerdict, { kind: "allow" }> }
  | { kind: "unavailable"; detail: string };

/** Owns every restart from its start until its host is back; see the module doc. */
export class Restarts implements AsyncDisposable {
  readonly #o: RestartsOptions;
  readonly #watch: HostWatch;
  readonly #recent = new RecentRestarts();

  /** Builds the owner and its recovery tracker (stopped by disposing). */
  constructor(options: RestartsOptions) {
    this.#o = options;
    this.#watch = new HostWatch(options, this.#recent);
  }

  /** The recovery tracker watching restarted hosts. */
  get recovery(): RecoveryTracker {
    return this.#watch.recovery;
  }

  /**
   * After a restart of mandrill: rows left `started` are reported
   * interrupted (never run again), and hosts left restarting, coming back or
   * not back are held and watched again. Call before dispatching (and, on a
   * shared store, now and then: it takes over what a dead instance left).
   */
  resume(): Promise<{ interrupted: number; outages: number }> {
    return resumeRestarts(this.#o, {
      interrupted: (row) => this.#o.hooks?.onPhase?.("interrupted", { host: row.host }),
      comingBack: (o, entry, target) => this.#watch.comingBack(o, entry, target, true),
      drop: (o) => this.#watch.drop(o),
    });
  }

  /** Restarts being executed, coming back, or not back. */
  lives(): LiveRestart[] {
    return this.#watch.lives();
  }

  /** The last restarts that ended, newest first. */
  recent(): FinishedRestart[] {
    return this.#recent.list();
  }

  /** Ends `row` as skipped by the gate. */
  skip(row: InboxRow, code: SkipCode, reason: string): void {
    this.#end(row, "skipped", reason, { skipCode: code });
  }

  /**
   * Runs the restart of `row` through its life. Synchronously first (before
   * the first await) the host is held, so the next gate decision already
   * counts it; then the start (row `started`, the host's outage, history) is
   * made durable — on a shared store after re-checking `recheck` against the
   * fleet's facts in the same transaction — and only then does the executor
   * run. Resolves once the executor returned and the row ended (coming back
   * is watched from there on), or at once with the verdict when the shared
   * facts refuse the start.
   * @throws when the start could not be written (nothing was executed).
   */
  async run(
    row: InboxRow,
    target: HostTarget,
    signal: AbortSignal,
    recheck: (facts: SharedFacts) => StartVerdict = () => ({ kind: "allow" }),
  ): Promise<RunResult> {
    const { store, clock } = this.#o;
    const startedAt = clock.now();
    const outage: OutageRow = {
      host: row.host,
      id: row.id,
      state: "restarting",
      executor: target.executor,
      startedAt,
      bootIdBefore: null,
      since: startedAt,
      interrupted: false,
      detail: null,
    };
    const req: RestartRequest = row.request;
    const life: LiveRestart = {
      id: row.id,
      host: row.host,
      executor: target.executor,
      phase: "restarting",
      startedAt,
      since: startedAt,
      requestedBy: req.requestedBy,
      reason: req.reason,
    };
    this.#watch.start(outage, life);
    let started: StartResult;
    try {
      // Durable before the executor runs (never twice after a crash).
      started = await store.tryStart({
        row,
        outage,
        now: startedAt,
        history: {
          id: row.id,
          host: row.host,
          executor: target.executor,
          requestedBy: req.requestedBy ?? null,
          reason: req.reason ?? null,
          startedAt,
        },
      }, recheck);
    } catch (err) {
      this.#watch.abandon(outage);
      throw new Error(`the start of ${row.id} was not written: ${errorMessage(err)}`);
    }
    if (started.kind !== "started") {
      this.#watch.abandon(outage);
      return started.kind === "gone" ? { kind: "done" } : started;
    }
    this.#o.ledger.record(row.host, startedAt);
    this.#o.events.event({
      id: row.id,
      host: row.host,
      phase: "started",
      detail: `executor ${target.executor}`,
      ts: startedAt,
    });
    this.#o.hooks?.onPhase?.("started", { host: row.host, executor: target.executor });
    log("dispatcher").info("Restarting {host} with executor {executor} ({reason})", {
      executor: target.executor,
      reason: req.reason ?? "no reason given",
    });
    const entry = this.#o.executors.get(target.executor);
    const { outcome, bootIdBefore } = await executeRestart(this.#o, row, target, entry, signal);
    const durationMs = clock.now() - startedAt;
    const phase: Outcome = outcome.kind === "ok"
      ? "succeeded"
      : outcome.kind === "aborted"
      ? "interrupted"
      : "failed";
    const detail = describeOutcome(outcome);
    store.historyFinish(row.id, phase, detail, clock.now(), durationMs);
    this.#end(row, phase, detail, { executor: target.executor, outcome, durationMs });
    this.#recent.push({
      id: row.id,
      host: row.host,
      outcome: phase,
      detail,
      startedAt,
      durationMs,
      requestedBy: req.requestedBy,
      reason: req.reason,
    });
    if (phase === "failed") this.#o.breaker.failure(row.host, row.id);
    const watch = watchAfter(outcome, entry);
    if (watch === undefined || entry === undefined) this.#watch.release(outage);
    else {
      this.#watch.comingBack(
        { ...outage, bootIdBefore: bootIdBefore ?? null, interrupted: watch === "unknown" },
        entry,
        target,
      );
    }
    return { kind: "done" };
  }

  #end(row: InboxRow, outcome: Outcome, detail: string, extra: Omit<PhaseInfo, "host">): void {
    const now = this.#o.clock.now();
    const { store, events } = this.#o;
    store.finishLater(row, outcome, detail, now);
    const ev = { id: row.id, host: row.host, phase: outcome, detail, ts: now };
    store.afterCommit(() => events.event(ev));
    this.#o.hooks?.onPhase?.(outcome, { host: row.host, detail, ...extra });
    const level = outcome === "failed" || outcome === "interrupted" ? "warn" : "info";
    log("dispatcher")[level]("Request {id} for {host} {outcome}: {detail}", {
      id: row.id,
      host: row.host,
      outcome,
      detail,
    });
  }

  /** Stops watching recoveries (what is coming back stays in the store for the next start). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#watch[Symbol.asyncDispose]();
  }
}
