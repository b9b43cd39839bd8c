/**
 * The dispatcher: pulls pending inbox rows in arrival order with a bounded
 * window in memory, runs each through the policy gate, waits for a slot
 * (`maxConcurrent`, `maxConcurrentPerGroup`, never two on one host), marks the
 * row `started`, then saves history ‖ executes, marks it done and publishes
 * the event. Work in flight is aborted through its AbortSignal on shutdown.
 * @module
 */
import { KeyedLimiter, TaskGroup } from "../async/mod.ts";
import { executeWithRetry } from "./attempts.ts";
import type { RestartRequest } from "../contract/messages.ts";
import { describeOutcome, type ExecuteOutcome } from "../executors/types.ts";
import { errorMessage, log, withLogContext } from "../log.ts";
import type { InboxRow, Outcome } from "../store/mod.ts";
import { RestartLedger } from "./ledger.ts";
import type { DispatcherOptions, HostTarget, InFlight } from "./dispatch_types.ts";

export type { DispatcherOptions, DispatchPolicy, HostTarget, InFlight } from "./dispatch_types.ts";
import { decide, type GateDecision } from "./policy.ts";

/** Pulls pending rows and drives each through the pipeline. */
export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #ledger = new RestartLedger();
  readonly #limiter: KeyedLimiter;
  readonly #claimed = new Map<string, InFlight>();
  #wake: (() => void) | undefined;
  #woken = false;
  #windowFreed: (() => void) | undefined;
  #lastSeq = 0;
  /** While claiming in a transaction: events to publish once it commits. */
  #afterCommit: (() => void)[] | undefined;

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

  /** Tells the dispatcher new rows are pending. Cheap; call after every insert. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
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
    await using group = new TaskGroup({ signal: options.abort, name: "dispatcher" });
    const windowSize = this.#o.windowSize ?? 1024;
    while (!options.stop.aborted) {
      this.#woken = false;
      const rows = store.pendingAfter(this.#lastSeq, 256);
      let i = 0;
      while (i < rows.length && !options.stop.aborted) {
        if (this.#claimed.size >= windowSize) {
          await this.#waitFor(options.stop, "window");
          continue;
        }
        // Claim synchronously while the window has room: skips decided here are
        // written in one transaction, not one commit each.
        const published: (() => void)[] = [];
        this.#afterCommit = published;
        try {
          store.transaction(() => {
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
          });
        } finally {
          this.#afterCommit = undefined;
        }
        // Events go out once what they report is committed.
        for (const publish of published) publish();
      }
      if (rows.length === 0 && !this.#woken) await this.#waitFor(options.stop, "wake");
    }
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
      this.#finish(row, "skipped", d.reason);
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
        if (d.kind === "skip") return this.#finish(row, "skipped", d.reason);
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
    if (!store.markStarted(row.id, startedAt)) return;
    this.#ledger.record(row.host, startedAt);
    const flight = this.#claimed.get(row.id);
    if (flight) Object.assign(flight, { phase: "executing", since: startedAt });
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
        });
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
      store.historyFinish(row.id, phase, detail, finishedAt, durationMs);
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
    extra: { executor?: string; outcome?: ExecuteOutcome; durationMs?: number } = {},
  ): void {
    const now = this.#o.clock.now();
    this.#o.store.finish(row.id, outcome, detail, now);
    const ev = { id: row.id, host: row.host, phase: outcome, detail, ts: now };
    if (this.#afterCommit) this.#afterCommit.push(() => this.#o.events.event(ev));
    else this.#o.events.event(ev);
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
