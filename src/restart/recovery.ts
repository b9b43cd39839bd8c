/**
 * Recovery tracking: after a restart, watches until the host is back — a new
 * boot id from its agent's heartbeat (agent hosts) or from an SSH probe (SSH
 * hosts: the probe alone, never a heartbeat), then an optional health check —
 * and reports how long that took; or, past `recoveryTimeoutSec`, that it did
 * not come back, and then keeps watching (slowly) until it is seen again.
 *
 * Here: where each watched restart stands, and its moves from there. Its
 * checks are in `recovery_checks.ts`: probes and health checks are processes,
 * so they share one pool (`recovery.maxProbes`) and back off per host, and
 * watching 1,000 hosts never floods sshd or the bastion's CPU.
 * @module
 */
import { Semaphore } from "../async/mod.ts";
import { systemClock } from "../clock.ts";
import type { BootChange, FleetView } from "../fleet/fleet_view.ts";
import { errorMessage, log } from "../log.ts";
import { RecoveryChecks, type RecoveryEntry } from "./recovery_checks.ts";
import type {
  RecoveredEvent,
  RecoveryTrackerOptions,
  SeenAgainEvent,
  TrackRequest,
} from "./recovery_types.ts";

export type * from "./recovery_types.ts";

import { isNewBoot } from "./recovery_rules.ts";

/** A restart being watched, for `/debug/tasks` and the status page. */
export interface TrackedRecovery {
  id: string;
  host: string;
  /** `coming_back` until the host is back; `not_back` once recovery gave up. */
  phase: "coming_back" | "not_back";
  startedAt: number;
  since: number;
}

/** Watches restarted hosts until they are back; see the module doc. */
export class RecoveryTracker implements AsyncDisposable {
  readonly #o: Required<Omit<RecoveryTrackerOptions, "fleet" | "signal" | "pool">>;
  readonly #fleet: FleetView | undefined;
  readonly #checks: RecoveryChecks;
  readonly #entries = new Map<string, RecoveryEntry>();
  readonly #byHost = new Map<string, RecoveryEntry>();
  readonly #subscription: Disposable | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.#cancelAll();
  #closed = false;

  /** Checks the options; throws `RangeError` on bad durations. */
  constructor(options: RecoveryTrackerOptions = {}) {
    const o = {
      clock: options.clock ?? systemClock,
      recoveryTimeoutSec: options.recoveryTimeoutSec ?? 600,
      probeIntervalSec: options.probeIntervalSec ?? 5,
      probeMaxIntervalSec: options.probeMaxIntervalSec ?? 60,
      probeJitter: options.probeJitter ?? 0.2,
      random: options.random ?? Math.random,
      onRecovered: options.onRecovered ?? (() => {}),
      onNotBack: options.onNotBack ?? (() => {}),
      onSeenAgain: options.onSeenAgain ?? (() => {}),
    };
    for (const k of ["recoveryTimeoutSec", "probeIntervalSec", "probeMaxIntervalSec"] as const) {
      if (!(Number.isFinite(o[k]) && o[k] > 0)) {
        throw new RangeError(`RecoveryTracker ${k} must be a number > 0, got ${o[k]}`);
      }
    }
    if (o.probeMaxIntervalSec < o.probeIntervalSec) {
      throw new RangeError("RecoveryTracker probeMaxIntervalSec must be >= probeIntervalSec");
    }
    this.#o = o;
    this.#fleet = options.fleet;
    this.#checks = new RecoveryChecks({
      clock: o.clock,
      fleet: this.#fleet,
      pool: options.pool ?? new Semaphore(16),
      pace: o,
      moves: {
        consider: (entry, bootId, uptimeSec) => this.#consider(entry, bootId, uptimeSec),
        recovered: (entry) => this.#recovered(entry),
        seenAgain: (entry) => this.#seenAgain(entry),
      },
    });
    this.#subscription = this.#fleet?.onBootChange((c) => this.#onBootChange(c));
    this.#signal = options.signal;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (this.#signal?.aborted) this.#cancelAll();
  }

  /** Number of restarts being watched (coming back or not back). */
  get size(): number {
    return this.#entries.size;
  }

  /** The restart of `host` being watched, if any. */
  get(host: string): TrackedRecovery | undefined {
    const e = this.#byHost.get(host);
    return e === undefined ? undefined : _view(e);
  }

  /** Every restart being watched. */
  list(): TrackedRecovery[] {
    return [...this.#entries.values()].map(_view);
  }

  /**
   * Starts watching one restart (one per host: a newer restart of the host
   * replaces the older one's watch, without calling back for it). Throws a
   * `TypeError` if `req.id` is already tracked, an `Error` once disposed.
   */
  track(req: TrackRequest): void {
    if (this.#closed) throw new Error("Cannot track a recovery: the tracker is closed");
    if (this.#entries.has(req.id)) throw new TypeError(`Cannot track ${req.id} twice`);
    if (req.source === "none" && req.healthCheck === undefined) {
      throw new TypeError(`Cannot track ${req.id}: nothing to watch (no boot, no health check)`);
    }
    const previous = this.#byHost.get(req.host);
    if (previous) this.#finish(previous);
    const now = this.#o.clock.now();
    const known = req.source === "agent" ? this.#fleet?.get(req.host) : undefined;
    const entry: RecoveryEntry = {
      req,
      bootIdBefore: req.bootIdBefore ?? known?.bootId,
      phase: req.notBack ? "not_back" : req.source === "none" ? "health" : "boot",
      since: now,
      attempt: 0,
      bootId: undefined,
      controller: new AbortController(),
      timer: undefined,
      wake: undefined,
      loop: undefined,
    };
    this.#entries.set(req.id, entry);
    this.#byHost.set(req.host, entry);
    if (entry.phase !== "not_back") {
      const deadline = req.deadlineAt ?? req.startedAt + this.#o.recoveryTimeoutSec * 1000;
      entry.timer = setTimeout(() => this.#giveUp(entry), Math.max(0, deadline - now));
    }
    // The new boot may already have been heard between the restart and now
    // (an interrupted restart needs a heartbeat after tracking began).
    const seenAt = known?.lastHeartbeatAt ?? known?.lastStatusAt;
    if (
      !req.interrupted && known?.bootId !== undefined && seenAt !== undefined &&
      seenAt >= req.startedAt
    ) {
      const bootId = known.bootId;
      const uptimeSec = this.#fleet?.uptimeOf(req.host, now);
      queueMicrotask(() => this.#consider(entry, bootId, uptimeSec));
    }
    entry.loop = this.#checks.watch(entry).catch((err) => {
      log("recovery").error("Watching {host} failed: {error}", {
        host: req.host,
        error: errorMessage(err),
      });
    });
  }

  /** Stops watching `id` without calling back. True if it was tracked. */
  untrack(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#finish(entry);
    return true;
  }

  /** Stops watching everything (no callbacks) and waits for running probes to end. */
  async [Symbol.asyncDispose](): Promise<void> {
    const loops = [...this.#entries.values()].map((e) => e.loop);
    this.#cancelAll();
    await Promise.all(loops);
  }

  #cancelAll(): void {
    this.#closed = true;
    this.#subscription?.[Symbol.dispose]();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    for (const entry of [...this.#entries.values()]) this.#finish(entry);
  }

  #onBootChange(change: BootChange): void {
    const entry = this.#byHost.get(change.host);
    if (entry === undefined || entry.req.source !== "agent") return;
    if (entry.phase === "not_back") return this.#seenAgain(entry);
    this.#consider(entry, change.bootId, change.uptimeSec);
  }

  /** Moves `entry` on if `bootId` (with the uptime, if known) shows a new boot. */
  #consider(entry: RecoveryEntry, bootId: string, uptimeSec?: number): void {
    if (entry.phase !== "boot") return;
    const isNew = isNewBoot({
      bootId,
      uptimeSec,
      bootIdBefore: entry.bootIdBefore,
      elapsedMs: this.#o.clock.now() - entry.req.startedAt,
      interrupted: entry.req.interrupted,
      probeIntervalSec: this.#o.probeIntervalSec,
    });
    if (!isNew) return;
    entry.bootId = bootId;
    if (entry.req.healthCheck === undefined) return this.#recovered(entry);
    this.#enter(entry, "health");
  }

  #recovered(entry: RecoveryEntry): void {
    const elapsed = this.#o.clock.now() - entry.req.startedAt;
    this.#finish(entry);
    const event: RecoveredEvent = {
      id: entry.req.id,
      host: entry.req.host,
      recoveryMs: elapsed,
      interrupted: entry.req.interrupted ?? false,
    };
    if (entry.bootId !== undefined) event.bootId = entry.bootId;
    log("recovery").info("{host} is back after {seconds} s{how}", {
      id: event.id,
      host: event.host,
      seconds: Math.round(elapsed / 100) / 10,
      how: entry.bootId === undefined ? " (health check passed)" : ` (boot id ${entry.bootId})`,
    });
    _call(() => this.#o.onRecovered(event));
  }

  #giveUp(entry: RecoveryEntry): void {
    entry.timer = undefined;
    if (entry.phase !== "boot" && entry.phase !== "health") return;
    const { host, id } = entry.req;
    const why = entry.phase === "health"
      ? " (it booted, but its health check has not passed)"
      : entry.bootIdBefore === undefined && entry.req.source !== "none"
      ? " (its boot id before the restart is unknown, and no uptime showed a boot since)"
      : "";
    const detail = `${host} did not come back within ${this.#o.recoveryTimeoutSec} s${why}`;
    this.#enter(entry, "not_back");
    _call(() =>
      this.#o.onNotBack({ id, host, detail, interrupted: entry.req.interrupted ?? false })
    );
  }

  #seenAgain(entry: RecoveryEntry): void {
    if (entry.phase !== "not_back") return;
    this.#finish(entry);
    const event: SeenAgainEvent = { id: entry.req.id, host: entry.req.host };
    log("recovery").info("{host} is seen again after it did not come back", { ...event });
    _call(() => this.#o.onSeenAgain(event));
  }

  #enter(entry: RecoveryEntry, phase: "health" | "not_back"): void {
    entry.phase = phase;
    entry.since = this.#o.clock.now();
    entry.attempt = 0;
    entry.wake?.(); // check at once in the new phase
  }

  #finish(entry: RecoveryEntry): void {
    if (entry.phase === "done") return;
    entry.phase = "done";
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.controller.abort(new Error("recovery tracking ended"));
    entry.wake?.();
    this.#entries.delete(entry.req.id);
    if (this.#byHost.get(entry.req.host) === entry) this.#byHost.delete(entry.req.host);
  }
}

function _view(e: RecoveryEntry): TrackedRecovery {
  return {
    id: e.req.id,
    host: e.req.host,
    phase: e.phase === "not_back" ? "not_back" : "coming_back",
    startedAt: e.req.startedAt,
    since: e.since,
  };
}

function _call(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log("recovery").error("Recovery callback failed: {error}", { error: errorMessage(err) });
  }
}
