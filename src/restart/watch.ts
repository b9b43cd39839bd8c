/**
 * The second half of a restart's life: its host coming back — held in the
 * unavailability budget and in the store, watched by the recovery tracker —
 * then back (history, the `recovered` event) or not back (the `failed` event,
 * the breaker; still held until it is seen again).
 * @module
 */
import { describeOutcome, type ExecuteRequest } from "../executors/types.ts";
import type { ExecutorEntry } from "../executors/registry.ts";
import { log } from "../log.ts";
import type { OutageRow } from "../store/mod.ts";
import { RecoveryTracker } from "./recovery.ts";
import type { RecoverySource, TrackRequest } from "./recovery_types.ts";
import type { FinishedRestart, LiveRestart, RestartsOptions } from "./restart_types.ts";
import type { HostTarget } from "./topology.ts";

/** Finished restarts kept for the status page. */
const RECENT = 50;

/** The last restarts that ended, for the status page. */
export class RecentRestarts {
  readonly #items: FinishedRestart[] = [];

  /** Adds one; the oldest goes past {@linkcode RECENT}. */
  push(done: FinishedRestart): void {
    this.#items.push(done);
    if (this.#items.length > RECENT) this.#items.shift();
  }

  /** Adds what was learnt later (recovery time, not back) to restart `id`, if still kept. */
  update(id: string, fields: Partial<FinishedRestart>): void {
    const done = this.#items.find((r) => r.id === id);
    if (done) Object.assign(done, fields);
  }

  /** Newest first. */
  list(): FinishedRestart[] {
    return [...this.#items].reverse();
  }
}

/** Holds and watches restarted hosts until they are back; see the module doc. */
export class HostWatch implements AsyncDisposable {
  readonly #o: RestartsOptions;
  readonly #recent: RecentRestarts;
  readonly recovery: RecoveryTracker;
  readonly #lives = new Map<string, LiveRestart>();
  /** The outage rows of the hosts held, as in the store. */
  readonly #outages = new Map<string, OutageRow>();

  /** Watches for `options`; what ends goes to `recent`. */
  constructor(options: RestartsOptions, recent: RecentRestarts) {
    this.#o = options;
    this.#recent = recent;
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

  /** Restarts being executed, coming back, or not back. */
  lives(): LiveRestart[] {
    return [...this.#lives.values()];
  }

  /**
   * A restart starts: the host is held `restarting` (in memory at once, in the
   * open batch on disk). A host that did not come back may be restarted
   * again: this restart owns it now.
   */
  start(outage: OutageRow, life: LiveRestart): void {
    const previous = this.#outages.get(outage.host);
    if (previous) this.recovery.untrack(previous.id);
    this.#outages.set(outage.host, outage); // the store writes it with the start
    this.#o.budget.hold(outage.host, "restarting");
    this.#lives.set(outage.host, life);
  }

  /** The start was not written (or refused): nothing happened to the host. */
  abandon(outage: OutageRow): void {
    if (this.#outages.get(outage.host)?.id !== outage.id) return;
    this.#outages.delete(outage.host);
    if (this.#lives.get(outage.host)?.id === outage.id) this.#lives.delete(outage.host);
    this.#o.budget.release(outage.host);
  }

  /** Forgets a stored outage nothing can watch any more (its executor is gone). */
  drop(outage: OutageRow): void {
    this.#o.store.deleteOutage(outage.host, outage.id);
  }

  /** The host is coming back: held, recorded, and watched by the recovery tracker. */
  comingBack(outage: OutageRow, entry: ExecutorEntry, target: HostTarget, resumed = false): void {
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
    if (source === "none" && track.healthCheck === undefined) return this.release(row);
    this.recovery.track(track);
  }

  #back(id: string, host: string, recoveryMs: number, interrupted: boolean): void {
    const { store, clock, events } = this.#o;
    if (!interrupted) {
      store.historyRecovered(id, clock.now(), recoveryMs);
      events.event({
        id,
        host,
        phase: "recovered",
        detail: `back after ${(recoveryMs / 1000).toFixed(1)}s`,
        ts: clock.now(),
      });
      this.#o.hooks?.onRecovered?.(recoveryMs);
      this.#recent.update(id, { recoveryMs });
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
      store.historyNotBack(id, detail);
      events.event({ id, host, phase: "failed", detail, ts: clock.now() });
      this.#o.breaker.failure(host, id);
      this.#recent.update(id, { notBack: true });
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

  /** The host is available again (the restart failed before anything happened, or needs no watching). */
  release(outage: OutageRow): void {
    this.#releaseHost(outage.host, outage.id);
  }

  #releaseHost(host: string, id: string): void {
    if (this.#outages.get(host)?.id !== id) return; // a newer restart holds the host
    this.#o.store.deleteOutage(host, id);
    if (this.#outages.get(host)?.id === id) this.#outages.delete(host);
    if (this.#lives.get(host)?.id === id) this.#lives.delete(host);
    this.#o.budget.release(host);
  }

  /** Records the outage of `row.host`, in memory and in the open batch. */
  #save(row: OutageRow): void {
    this.#outages.set(row.host, row);
    this.#o.store.putOutage(row);
  }

  /** Stops watching (what is coming back stays in the store for the next start). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.recovery[Symbol.asyncDispose]();
  }
}
