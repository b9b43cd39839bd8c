/**
 * The dispatcher: takes pending inbox rows in arrival order with a bounded
 * window in memory — handed over by intake as they are inserted, or read back
 * from the store after a start or whenever the hand-over queue overflowed — runs each through the policy gate, waits for a slot
 * (`maxConcurrent`, `maxConcurrentPerGroup`, never two on one host), marks the
 * row `started`, then saves history ‖ executes, marks it done and publishes
 * the event. Work in flight is aborted through its AbortSignal on shutdown.
 * @module
 */
import { setImmediate } from "node:timers";
import { KeyedLimiter, TaskGroup } from "../async/mod.ts";
import { executeWithRetry } from "./attempts.ts";
import type { RestartRequest } from "../contract/messages.ts";
import { describeOutcome, type ExecuteOutcome } from "../executors/types.ts";
import { errorMessage, log, withLogContext } from "../log.ts";
import type { InboxRow, Outcome } from "../store/mod.ts";
import { RestartLedger } from "./ledger.ts";
import type { DispatcherOptions, HostTarget, InFlight, PhaseInfo } from "./dispatch_types.ts";

export type {
  DispatcherOptions,
  DispatchPolicy,
  HostTarget,
  InFlight,
  PhaseInfo,
} from "./dispatch_types.ts";
import { decide, type GateDecision } from "./policy.ts";

type PhaseExtra = Omit<PhaseInfo, "host" | "detail">;

/** Writes that join the store's group-commit batch; see `#commitSoon`. */
const DEFER = { deferCommit: true } as const;
/** Rows read or handed over at once. */
const BATCH = 256;
/** Rows held in the hand-over queue at most (beyond the window); more are read back from the store. */
const MAX_QUEUED = 8192;

/** Takes pending rows and drives each through the pipeline. */
export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #ledger = new RestartLedger();
  readonly #limiter: KeyedLimiter;
  readonly #claimed = new Map<string, InFlight>();
  #wake: (() => void) | undefined;
  #woken = false;
  #windowFreed: (() => void) | undefined;
  #lastSeq = 0;
  /** Rows handed over by intake, in seq order; only used while not {@linkcode #scan}ning. */
  #queue: InboxRow[] = [];
  #queueHead = 0;
  /**
   * True while rows may be pending in the store but not in the queue: at start
   * (a previous run's rows), after {@linkcode wake}, and once the queue
   * overflowed. The store is then read from `#lastSeq` until it is drained.
   */
  #scan = true;
  #commit: PromiseWithResolvers<void> | undefined;

  /** Builds a dispatcher; call {@linkcode run} to start it. */
  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#limiter = new KeyedLimiter({ limit: options.policy().maxConcurrent });
    const now = options.clock.now();
    for (
      const r of options.store.restartsSince(
        now - Math.max(3_600_000, options.policy().minIntervalSec * 1000),
      )
    ) {
      this.#ledger.record(r.host, r.startedAt);
    }
  }

  /** Tells the dispatcher new rows are pending in the store. Cheap; call after inserts. */
  wake(): void {
    this.#scan = true;
    this.#queue = [];
    this.#queueHead = 0;
    this.#signalWork();
  }

  /**
   * Hands over a row just inserted (same connection, so readable even before
   * its group commit; anything done with it commits first). Rows must come in
   * seq order. Memory stays bounded: past {@linkcode MAX_QUEUED} the queue is
   * dropped and the rows are read back from the store.
   */
  enqueue(row: InboxRow): void {
    if (!this.#scan) {
      if (this.#queue.length - this.#queueHead < MAX_QUEUED) this.#queue.push(row);
      else this.wake();
    }
    this.#signalWork();
  }

  #signalWork(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** The next batch of pending rows after `#lastSeq`, oldest first. */
  #nextRows(): InboxRow[] {
    if (this.#scan) {
      const rows = this.#o.store.pendingAfter(this.#lastSeq, BATCH);
      // Caught up: every row inserted from now on is handed over.
      if (rows.length < BATCH) this.#scan = false;
      return rows;
    }
    const rows = this.#queue.slice(this.#queueHead, this.#queueHead + BATCH);
    this.#queueHead += rows.length;
    if (this.#queueHead === this.#queue.length || this.#queueHead >= MAX_QUEUED) {
      this.#queue = this.#queue.slice(this.#queueHead); // drop what was taken
      this.#queueHead = 0;
    }
    return rows;
  }

  /** Work claimed and not finished. */
  inFlight(): InFlight[] {
    return [...this.#claimed.values()];
  }

  /** Applies a changed `maxConcurrent` (config reload). */
  applyPolicy(): void {
    this.#limiter.setLimit(this.#o.policy().maxConcurrent);
  }

  /**
   * Reports rows a previous run left `started` as interrupted, then dispatches
   * until `stop` aborts (no new rows claimed), then waits for work in flight
   * until `abort` aborts it.
   */
  async run(options: { stop: AbortSignal; abort: AbortSignal }): Promise<void> {
    const { store, events, clock } = this.#o;
    for (const row of store.interruptStarted(clock.now())) {
      events.event({
        id: row.id,
        host: row.host,
        phase: "interrupted",
        detail: "mandrill stopped while the restart was running",
        ts: clock.now(),
      });
      this.#o.onPhase?.("interrupted", { host: row.host });
      log("dispatcher").warn(
        "Request {id} for {host} was interrupted by a previous stop; not executed again",
        { id: row.id, host: row.host },
      );
    }
    try {
      await this.#dispatch(options);
    } finally {
      // What finished last is still in the open batch: commit it (and send its
      // events) before the caller closes the connection and the store.
      store.commitBatch();
    }
  }

  async #dispatch(options: { stop: AbortSignal; abort: AbortSignal }): Promise<void> {
    await using group = new TaskGroup({ signal: options.abort, name: "dispatcher" });
    const windowSize = this.#o.windowSize ?? 1024;
    while (!options.stop.aborted) {
      this.#woken = false;
      const rows = this.#nextRows();
      let i = 0;
      while (i < rows.length && !options.stop.aborted) {
        if (this.#claimed.size >= windowSize) {
          await this.#waitFor(options.stop, "window");
          continue;
        }
        // Claim synchronously while the window has room. Skips decided here go
        // into the store's open group-commit batch, their events out after it.
        for (; i < rows.length && this.#claimed.size < windowSize; i++) {
          const row = rows[i]!;
          this.#lastSeq = row.seq;
          const claim = this.#claim(row);
          if (claim) {
            group.spawn((signal) => this.#process(row, claim, { signal, stop: options.stop }), {
              independent: true,
              name: row.id,
            });
          }
        }
      }
      if (rows.length === 0 && !this.#woken) await this.#waitFor(options.stop, "wake");
    }
  }

  /**
   * Commits the store's open batch on the next turn of the event loop, so the
   * deferred writes of this turn (starts, skips, history, ends) share one
   * commit. Resolves once it committed; rejects if it failed (also reported to
   * `onTaskError`).
   */
  #commitSoon(): Promise<void> {
    if (this.#commit) return this.#commit.promise;
    const commit = Promise.withResolvers<void>();
    commit.promise.catch(() => {}); // most callers do not wait for it
    this.#commit = commit;
    setImmediate(() => {
      this.#commit = undefined;
      try {
        this.#o.store.commitBatch();
        commit.resolve();
      } catch (err) {
        log("dispatcher").error("Cannot commit: {error}", { error: errorMessage(err) });
        this.#o.onTaskError?.(err);
        commit.reject(err);
      }
    });
    return commit.promise;
  }

  #waitFor(stop: AbortSignal, what: "wake" | "window"): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        stop.removeEventListener("abort", done);
        if (what === "wake") this.#wake = undefined;
        else this.#windowFreed = undefined;
        resolve();
      };
      if (stop.aborted) return resolve();
      stop.addEventListener("abort", done, { once: true });
      if (what === "wake") this.#wake = done;
      else this.#windowFreed = done;
    });
  }

  #gate(row: InboxRow, target: HostTarget | undefined): GateDecision {
    const now = this.#o.clock.now();
    return decide(row.request, this.#o.policy(), {
      now,
      known: target !== undefined && this.#o.executors().has(target.executor),
      busy: this.#o.awaitingRecovery?.(row.host) ?? false,
      lastRestartAt: this.#ledger.lastRestartAt(row.host),
      restartsLastHour: this.#ledger.countLastHour(now),
      uptimeSec: this.#o.uptimeOf?.(row.host),
      paused: this.#o.paused?.(),
      outsideWindow: this.#o.outsideWindow?.(row.request, target),
    });
  }

  /** When `host` was last restarted (ms), as the policy gate sees it. */
  lastRestartAt(host: string): number | undefined {
    return this.#ledger.lastRestartAt(host);
  }

  /**
   * Synchronous first pass: skip at once what the gate already refuses, or claim
   * the row. The gate runs again once a slot is held; that second decision, taken
   * in the same synchronous step as marking the row started, is the one that counts.
   */
  #claim(row: InboxRow): HostTarget | undefined {
    const target = this.#o.resolveHost(row.host);
    const d = this.#gate(row, target);
    if (d.kind === "skip") {
      this.#finish(row, "skipped", d.reason, { skipCode: d.code });
      return undefined;
    }
    this.#claimed.set(row.id, {
      id: row.id,
      host: row.host,
      phase: "waiting",
      since: this.#o.clock.now(),
    });
    return target;
  }

  #release(row: InboxRow): void {
    this.#claimed.delete(row.id);
    this.#windowFreed?.();
  }

  async #process(
    row: InboxRow,
    target: HostTarget,
    { signal, stop }: { signal: AbortSignal; stop: AbortSignal },
  ): Promise<void> {
    await withLogContext({ id: row.id, host: row.host }, async () => {
      try {
        // One key per host: never two actions on one host at once. A row still
        // waiting when shutdown starts stays pending for the next start.
        using _slot = await this.#limiter.acquire(row.host, {
          signal: AbortSignal.any([signal, stop]),
          groupKey: target.group ?? `host:${row.host}`,
          groupLimit: this.#o.policy().maxConcurrentPerGroup,
        });
        if (stop.aborted) return; // left pending: shutdown began while it waited
        const current = this.#o.resolveHost(row.host);
        const d = this.#gate(row, current);
        if (d.kind === "skip") {
          return this.#finish(row, "skipped", d.reason, { skipCode: d.code });
        }
        await this.#execute(row, current!, signal);
      } catch (err) {
        if (signal.aborted || (stop.aborted && err === stop.reason)) {
          log("dispatcher").info("Request {id} left pending: shutting down", { id: row.id });
          return;
        }
        log("dispatcher").error("Request {id} failed unexpectedly: {error}", {
          id: row.id,
          error: errorMessage(err),
        });
        this.#o.onTaskError?.(err);
        throw err;
      } finally {
        this.#release(row);
      }
    });
  }

  async #execute(row: InboxRow, target: HostTarget, signal: AbortSignal): Promise<void> {
    const { store, clock, events } = this.#o;
    const startedAt = clock.now();
    const failedCommits = store.failedCommits;
    if (!store.markStarted(row.id, startedAt, DEFER)) return;
    this.#ledger.record(row.host, startedAt);
    const flight = this.#claimed.get(row.id);
    if (flight) Object.assign(flight, { phase: "executing", since: startedAt });
    // The start mark is durable before the executor runs (never twice after a
    // crash); the starts of one turn share a commit. Whoever commits it, a
    // failed commit means it was rolled back.
    await this.#commitSoon();
    if (store.failedCommits !== failedCommits) {
      throw new Error(`the start of ${row.id} was not committed: a commit failed`);
    }
    const req: RestartRequest = row.request;
    events.event({
      id: row.id,
      host: row.host,
      phase: "started",
      detail: `executor ${target.executor}`,
      ts: startedAt,
    });
    this.#o.onPhase?.("started", { host: row.host, executor: target.executor });
    log("dispatcher").info("Restarting {host} with executor {executor} ({reason})", {
      executor: target.executor,
      reason: req.reason ?? "no reason given",
    });
    const saveHistory = async () => {
      await Promise.resolve();
      try {
        store.historyStart({
          id: row.id,
          host: row.host,
          executor: target.executor,
          requestedBy: req.requestedBy ?? null,
          reason: req.reason ?? null,
          startedAt,
        }, DEFER);
        this.#commitSoon();
      } catch (err) {
        log("dispatcher").error("Cannot save history of {id}: {error}", {
          error: errorMessage(err),
        });
        this.#o.onHistoryError?.(err);
      }
    };
    const execute = async () => {
      try {
        await this.#o.onStarted?.({ id: row.id, host: row.host, target, startedAt }, signal);
      } catch (err) {
        log("dispatcher").warn("Before restarting: {error}", { error: errorMessage(err) });
      }
      return await this.#executeWithRetry(row, target, signal);
    };
    const [, outcome] = await Promise.all([saveHistory(), execute()]);
    const finishedAt = clock.now();
    const durationMs = finishedAt - startedAt;
    const phase: Outcome = outcome.kind === "ok"
      ? "succeeded"
      : outcome.kind === "aborted"
      ? "interrupted"
      : "failed";
    const detail = describeOutcome(outcome);
    try {
      store.historyFinish(row.id, phase, detail, finishedAt, durationMs, DEFER);
    } catch (err) {
      log("dispatcher").error("Cannot save history of {id}: {error}", { error: errorMessage(err) });
      this.#o.onHistoryError?.(err);
    }
    this.#finish(row, phase, detail, { executor: target.executor, outcome, durationMs });
    this.#o.onExecuted?.({ id: row.id, host: row.host, target, startedAt, outcome: phase });
  }

  #executeWithRetry(
    row: InboxRow,
    target: HostTarget,
    signal: AbortSignal,
  ): Promise<ExecuteOutcome> {
    const executor = this.#o.executors().get(target.executor);
    if (!executor) {
      return Promise.resolve({
        kind: "rejected",
        detail: `executor ${target.executor} is not configured`,
      });
    }
    const req = {
      id: row.id,
      host: row.host,
      address: target.address,
      port: target.port,
      reason: row.request.reason,
    };
    return executeWithRetry(executor, req, { ...this.#o.policy().retry, signal });
  }

  #finish(
    row: InboxRow,
    outcome: Outcome,
    detail: string,
    extra: PhaseExtra = {},
  ): void {
    const now = this.#o.clock.now();
    const { store, events } = this.#o;
    store.finishLater(row.seq, outcome, detail, now);
    const ev = { id: row.id, host: row.host, phase: outcome, detail, ts: now };
    store.afterCommit(() => events.event(ev));
    this.#commitSoon();
    this.#o.onPhase?.(outcome, { host: row.host, detail, ...extra });
    const level = outcome === "failed" || outcome === "interrupted" ? "warn" : "info";
    log("dispatcher")[level]("Request {id} for {host} {outcome}: {detail}", {
      id: row.id,
      host: row.host,
      outcome,
      detail,
    });
  }
}
