/**
 * A restart's whole life, owned by one module: started (the row marked, the
 * host held unavailable — in memory at once, on disk with the start mark) →
 * executed (history, the row's end, its event) → coming back (tracked until a
 * new boot, and a passing health check) → back, or not back (still held
 * until the host is seen again). The unavailability budget is held for the
 * whole span; the breaker counts failures.
 * @module
 */
import { executeWithRetry } from "./attempts.ts";
import type { RestartRequest } from "../contract/messages.ts";
import { describeOutcome, type ExecuteOutcome, type ExecuteRequest } from "../executors/types.ts";
import type { ExecutorEntry } from "../executors/registry.ts";
import { errorMessage, log } from "../log.ts";
import type { SkipCode } from "../pipeline/policy.ts";
import { CommitSoon } from "../store/commit_soon.ts";
import type { InboxRow, OutageRow, Outcome } from "../store/mod.ts";
import { RecoveryTracker } from "./recovery.ts";
import type { ProbeOutcome, RecoverySource, TrackRequest } from "./recovery_types.ts";
import type { FinishedRestart, LiveRestart, PhaseInfo, RestartsOptions } from "./restart_types.ts";
import { resumeRestarts } from "./resume.ts";
import type { HostTarget } from "./topology.ts";

/** Writes that join the store's group-commit batch. */
const DEFER = { deferCommit: true } as const;
/** Finished restarts kept for the status page. */
const RECENT = 50;

/** Owns every restart from its start until its host is back; see the module doc. */
export class Restarts implements AsyncDisposable {
  readonly #o: RestartsOptions;
  readonly #commit: CommitSoon;
  readonly recovery: RecoveryTracker;
  readonly #lives = new Map<string, LiveRestart>();
  /** The outage rows of the hosts held, as in the store. */
  readonly #outages = new Map<string, OutageRow>();
  readonly #recent: FinishedRestart[] = [];

  /** Builds the owner and its recovery tracker (stopped by disposing). */
  constructor(options: RestartsOptions) {
    this.#o = options;
    this.#commit = new CommitSoon(options.store, { onError: (e) => options.hooks?.onFatal?.(e) });
    const r = options.config().recovery;
    this.recovery = new RecoveryTracker({
      fleet: options.fleet,
      clock: options.clock,
      recoveryTimeoutSec: r.timeoutSec,
      probeIntervalSec: r.probeIntervalSec,
      probeMaxIntervalSec: Math.max(r.probeMaxIntervalSec, r.probeIntervalSec),
      pool: options.probes,
      onRecovered: (e) => this.#back(e.id, e.host, e.recoveryMs, e.interrupted),
      onNotBack: (e) => this.#notBack(e.id, e.host, e.detail, e.interrupted),
      onSeenAgain: (e) => this.#seenAgain(e.id, e.host),
    });
  }

  /**
   * After a restart of mandrill: rows left `started` are reported
   * interrupted (never run again), and hosts left restarting, coming back or
   * not back are held and watched again. Call once, before dispatching.
   */
  resume(): void {
    resumeRestarts(this.#o, {
      interrupted: (row) => this.#o.hooks?.onPhase?.("interrupted", { host: row.host }),
      comingBack: (o, entry, target) => this.#comingBack(o, entry, target, true),
      drop: (o) => {
        this.#o.store.outages.delete(o.host, o.id, DEFER);
        this.#commit.soon();
      },
    });
  }

  /** Restarts being executed, coming back, or not back. */
  lives(): LiveRestart[] {
    return [...this.#lives.values()];
  }

  /** The last restarts that ended, newest first. */
  recent(): FinishedRestart[] {
    return [...this.#recent].reverse();
  }

  /** Ends `row` as skipped by the gate. */
  skip(row: InboxRow, code: SkipCode, reason: string): void {
    this.#end(row, "skipped", reason, { skipCode: code });
  }

  /**
   * Runs the restart of `row` through its life. Synchronously first (before
   * the first await): the row is marked started and the host held, so the
   * next gate decision already counts it. Resolves once the executor
   * returned and the row ended; coming back is watched from there on.
   * @throws when the start mark could not be committed (nothing was executed).
   */
  async run(row: InboxRow, target: HostTarget, signal: AbortSignal): Promise<void> {
    const { store, clock, budget } = this.#o;
    const startedAt = clock.now();
    const failedCommits = store.failedCommits;
    if (!store.markStarted(row.id, startedAt, DEFER)) return;
    // A host that did not come back may be restarted again: this restart owns it now.
    const previous = this.#outages.get(row.host);
    if (previous) this.recovery.untrack(previous.id);
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
    this.#save(outage);
    budget.hold(row.host, "restarting");
    this.#o.ledger.record(row.host, startedAt);
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
    this.#lives.set(row.host, life);
    try {
      // Durable before the executor runs (never twice after a crash).
      await this.#commit.soon();
      if (store.failedCommits !== failedCommits) throw new Error("a commit failed");
    } catch (err) {
      budget.release(row.host);
      this.#lives.delete(row.host);
      throw new Error(`the start of ${row.id} was not committed: ${errorMessage(err)}`);
    }
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
    this.#history(() =>
      store.historyStart({
        id: row.id,
        host: row.host,
        executor: target.executor,
        requestedBy: req.requestedBy ?? null,
        reason: req.reason ?? null,
        startedAt,
      }, DEFER)
    );
    const entry = this.#o.executors.get(target.executor);
    const { outcome, bootIdBefore } = await this.#execute(row, target, entry, signal);
    const durationMs = clock.now() - startedAt;
    const phase: Outcome = outcome.kind === "ok"
      ? "succeeded"
      : outcome.kind === "aborted"
      ? "interrupted"
      : "failed";
    const detail = describeOutcome(outcome);
    this.#history(() => store.historyFinish(row.id, phase, detail, clock.now(), durationMs, DEFER));
    this.#end(row, phase, detail, { executor: target.executor, outcome, durationMs });
    this.#remember({
      id: row.id,
      host: row.host,
      outcome: phase,
      detail,
      startedAt,
      durationMs,
      requestedBy: req.requestedBy,
      reason: req.reason,
    });
    if (phase === "failed") this.#o.breaker.failure(row.host);
    const watch = _watchAfter(outcome, entry);
    if (watch === undefined || entry === undefined) return this.#release(outage);
    this.#comingBack(
      { ...outage, bootIdBefore: bootIdBefore ?? null, interrupted: watch === "unknown" },
      entry,
      target,
    );
  }

  /** The executor's run, with the boot id read first where recovery needs it. */
  async #execute(
    row: InboxRow,
    target: HostTarget,
    entry: ExecutorEntry | undefined,
    signal: AbortSignal,
  ): Promise<{ outcome: ExecuteOutcome; bootIdBefore?: string }> {
    if (entry === undefined) {
      return {
        outcome: { kind: "rejected", detail: `executor ${target.executor} is not configured` },
      };
    }
    const req: ExecuteRequest = {
      id: row.id,
      host: row.host,
      address: target.address,
      port: target.port,
      reason: row.request.reason,
    };
    let bootIdBefore = entry.type === "agent" ? this.#o.fleet.get(row.host)?.bootId : undefined;
    if (entry.recovery === "boot" && entry.probe !== undefined) {
      // Its own short limit, taken out of the executor's: never stretches timeoutSec.
      const limitMs = entry.timeoutSec * 1000;
      const probeMs = Math.min(this.#o.config().recovery.probeTimeoutSec * 1000, limitMs / 2);
      const t0 = this.#o.clock.now();
      const r = await this.#probe(entry, { ...req, timeoutMs: probeMs }, signal, true);
      if (r.kind === "ok") bootIdBefore = r.bootId;
      else {
        log("recovery").warn("Cannot read the boot id of {host} before restarting: {detail}", {
          host: row.host,
          detail: r.detail,
        });
      }
      req.timeoutMs = Math.max(1, limitMs - (this.#o.clock.now() - t0));
    }
    const retry = this.#o.config().policy.retry;
    const outcome = await executeWithRetry(entry.executor, req, { ...retry, signal });
    return { outcome, bootIdBefore };
  }

  async #probe(
    entry: ExecutorEntry,
    req: ExecuteRequest,
    signal: AbortSignal,
    priority = false,
  ): Promise<ProbeOutcome> {
    try {
      using _permit = await this.#o.probes.acquire({ signal, priority });
      const r = await entry.probe!(req, signal);
      return r.kind === "ok" ? r : { kind: "failed", detail: `${r.kind}: ${r.detail}` };
    } catch (err) {
      return { kind: "failed", detail: errorMessage(err) };
    }
  }

  /** The host is coming back: held, recorded, and watched by the recovery tracker. */
  #comingBack(outage: OutageRow, entry: ExecutorEntry, target: HostTarget, resumed = false): void {
    const { clock, budget } = this.#o;
    const notBack = outage.state === "not_back";
    const now = clock.now();
    const row: OutageRow = notBack ? outage : { ...outage, state: "coming_back", since: now };
    this.#save(row);
    budget.hold(row.host, row.state as "coming_back" | "not_back");
    const life = this.#lives.get(row.host);
    const phase = notBack ? "not_back" : "coming_back";
    if (life?.id === row.id) Object.assign(life, { phase, since: row.since });
    else {
      this.#lives.set(row.host, {
        id: row.id,
        host: row.host,
        executor: row.executor,
        phase,
        startedAt: row.startedAt,
        since: row.since,
      });
    }
    // How it is seen back: its agent, or (SSH) its probe alone; with recovery
    // "none" its health check alone, unless the restart's fate is unknown.
    const watchBoot = entry.recovery === "boot" || row.interrupted;
    const source: RecoverySource = !watchBoot
      ? "none"
      : entry.type === "agent"
      ? "agent"
      : entry.probe !== undefined
      ? "probe"
      : "none";
    const probeReq: ExecuteRequest = {
      id: row.id,
      host: row.host,
      address: target.address,
      port: target.port,
      timeoutMs: this.#o.config().recovery.probeTimeoutSec * 1000,
    };
    const track: TrackRequest = {
      id: row.id,
      host: row.host,
      startedAt: row.startedAt,
      source,
      interrupted: row.interrupted,
      notBack,
    };
    if (row.bootIdBefore !== null) track.bootIdBefore = row.bootIdBefore;
    if (source === "probe") {
      track.probe = (signal) =>
        entry.probe!(probeReq, signal).then((r) =>
          r.kind === "ok" ? r : { kind: "failed" as const, detail: `${r.kind}: ${r.detail}` }
        );
    }
    const health = entry.healthCheck;
    if (health !== undefined) {
      track.healthCheck = (signal) =>
        health(row.host, signal).then((o) =>
          o.kind === "ok"
            ? { ok: true as const }
            : { ok: false as const, detail: describeOutcome(o) }
        );
    }
    // Resumed after a restart of mandrill: at least a minute more to show up.
    const deadline = row.startedAt + this.#o.config().recovery.timeoutSec * 1000;
    if (resumed && deadline < now + 60_000) track.deadlineAt = now + 60_000;
    if (source === "none" && track.healthCheck === undefined) return this.#release(row);
    this.recovery.track(track);
  }

  #back(id: string, host: string, recoveryMs: number, interrupted: boolean): void {
    const { store, clock, events } = this.#o;
    if (!interrupted) {
      this.#history(() => store.historyRecovered(id, clock.now(), recoveryMs));
      events.event({
        id,
        host,
        phase: "recovered",
        detail: `back after ${(recoveryMs / 1000).toFixed(1)}s`,
        ts: clock.now(),
      });
      this.#o.hooks?.onRecovered?.(recoveryMs);
      const done = this.#recent.find((r) => r.id === id);
      if (done) done.recoveryMs = recoveryMs;
    }
    this.#releaseHost(host, id);
  }

  #notBack(id: string, host: string, detail: string, interrupted: boolean): void {
    const { store, clock, events, budget } = this.#o;
    if (interrupted) {
      log("recovery").warn("{host} was not seen since its restart was interrupted: {detail}", {
        id,
        host,
        detail,
      });
    } else {
      this.#history(() => store.historyNotBack(id, detail));
      events.event({ id, host, phase: "failed", detail, ts: clock.now() });
      this.#o.breaker.failure(host);
      const done = this.#recent.find((r) => r.id === id);
      if (done) done.notBack = true;
    }
    const life = this.#lives.get(host);
    if (life?.id === id) Object.assign(life, { phase: "not_back", since: clock.now() });
    const row = this.#outages.get(host);
    if (row?.id === id) this.#save({ ...row, state: "not_back", since: clock.now(), detail });
    budget.hold(host, "not_back");
  }

  #seenAgain(id: string, host: string): void {
    this.#releaseHost(host, id);
  }

  #release(outage: OutageRow): void {
    this.#releaseHost(outage.host, outage.id);
  }

  #releaseHost(host: string, id: string): void {
    if (this.#outages.get(host)?.id !== id) return; // a newer restart holds the host
    this.#o.store.outages.delete(host, id, DEFER);
    this.#commit.soon();
    if (this.#outages.get(host)?.id === id) this.#outages.delete(host);
    if (this.#lives.get(host)?.id === id) this.#lives.delete(host);
    this.#o.budget.release(host);
  }

  /** Records the outage of `row.host`, in memory and in the open batch. */
  #save(row: OutageRow): void {
    this.#outages.set(row.host, row);
    this.#o.store.outages.put(row, DEFER);
    this.#commit.soon();
  }

  #end(row: InboxRow, outcome: Outcome, detail: string, extra: Omit<PhaseInfo, "host">): void {
    const now = this.#o.clock.now();
    const { store, events } = this.#o;
    store.finishLater(row.seq, outcome, detail, now);
    const ev = { id: row.id, host: row.host, phase: outcome, detail, ts: now };
    store.afterCommit(() => events.event(ev));
    this.#commit.soon();
    this.#o.hooks?.onPhase?.(outcome, { host: row.host, detail, ...extra });
    const level = outcome === "failed" || outcome === "interrupted" ? "warn" : "info";
    log("dispatcher")[level]("Request {id} for {host} {outcome}: {detail}", {
      id: row.id,
      host: row.host,
      outcome,
      detail,
    });
  }

  #remember(done: FinishedRestart): void {
    this.#recent.push(done);
    if (this.#recent.length > RECENT) this.#recent.shift();
  }

  #history(write: () => void): void {
    try {
      write();
    } catch (err) {
      log("dispatcher").error("Cannot save history: {error}", { error: errorMessage(err) });
      this.#o.hooks?.onHistoryError?.(err);
    }
  }

  /** Stops watching recoveries (what is coming back stays in the store for the next start). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.recovery[Symbol.asyncDispose]();
  }
}

/**
 * What to watch after an execution: `back`, a success whose host must be
 * seen back (recovery `boot`, or a health check); `unknown`, an outcome that
 * leaves the host's state unknown (a timeout, an abort: it may be rebooting);
 * undefined: nothing (the host is available again).
 */
function _watchAfter(
  outcome: ExecuteOutcome,
  entry: ExecutorEntry | undefined,
): "back" | "unknown" | undefined {
  if (entry === undefined) return undefined;
  const watchable = entry.recovery === "boot" || entry.healthCheck !== undefined;
  if (outcome.kind === "ok") return watchable ? "back" : undefined;
  const unknown = outcome.kind === "timeout" || outcome.kind === "aborted";
  const canSee = entry.type === "agent" || entry.probe !== undefined ||
    entry.healthCheck !== undefined;
  return unknown && canSee ? "unknown" : undefined;
}
