/**
 * Recovery tracking: after a restart, watches until the host is back — a new
 * boot id from its agent's heartbeat (agent hosts) or from an SSH probe (SSH
 * hosts: the probe alone, never a heartbeat), then an optional health check —
 * and reports how long that took; or, past `recoveryTimeoutSec`, that it did
 * not come back, and then keeps watching (slowly) until it is seen again.
 *
 * Probes and health checks are processes: they share one {@linkcode Semaphore}
 * (`recovery.maxProbes`), and back off per host, so watching 1,000 hosts
 * never floods sshd or the bastion's CPU.
 * @module
 */
import { Semaphore } from "../async/mod.ts";
import { systemClock } from "../clock.ts";
import type { BootChange, FleetView } from "../fleet/fleet_view.ts";
import { errorMessage, log } from "../log.ts";
import type {
  BootProbe,
  HealthCheck,
  ProbeOutcome,
  RecoveredEvent,
  RecoveryTrackerOptions,
  SeenAgainEvent,
  TrackRequest,
} from "./recovery_types.ts";

export type * from "./recovery_types.ts";

import { isNewBoot, nextCheckMs } from "./recovery_rules.ts";

interface _Entry {
  req: TrackRequest;
  bootIdBefore: string | undefined;
  phase: "boot" | "health" | "not_back" | "done";
  /** When the current phase began, ms. */
  since: number;
  attempt: number;
  bootId: string | undefined;
  controller: AbortController;
  timer: ReturnType<typeof setTimeout> | undefined;
  wake: (() => void) | undefined;
  loop: Promise<void> | undefined;
}

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
  readonly #pool: Semaphore;
  readonly #entries = new Map<string, _Entry>();
  readonly #byHost = new Map<string, _Entry>();
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
    this.#pool = options.pool ?? new Semaphore(16);
    this.#fleet = options.fleet;
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
    const entry: _Entry = {
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
    entry.loop = this.#watch(entry).catch((err) => {
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
  #consider(entry: _Entry, bootId: string, uptimeSec?: number): void {
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

  #recovered(entry: _Entry): void {
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

  #giveUp(entry: _Entry): void {
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

  #seenAgain(entry: _Entry): void {
    if (entry.phase !== "not_back") return;
    this.#finish(entry);
    const event: SeenAgainEvent = { id: entry.req.id, host: entry.req.host };
    log("recovery").info("{host} is seen again after it did not come back", { ...event });
    _call(() => this.#o.onSeenAgain(event));
  }

  #enter(entry: _Entry, phase: "health" | "not_back"): void {
    entry.phase = phase;
    entry.since = this.#o.clock.now();
    entry.attempt = 0;
    entry.wake?.(); // check at once in the new phase
  }

  #finish(entry: _Entry): void {
    if (entry.phase === "done") return;
    entry.phase = "done";
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.controller.abort(new Error("recovery tracking ended"));
    entry.wake?.();
    this.#entries.delete(entry.req.id);
    if (this.#byHost.get(entry.req.host) === entry) this.#byHost.delete(entry.req.host);
  }

  /** Checks `entry` again and again, with backoff, until it is done. */
  async #watch(entry: _Entry): Promise<void> {
    const signal = entry.controller.signal;
    while (entry.phase !== "done") {
      const woken = await this.#sleep(entry);
      if ((entry.phase as _Entry["phase"]) === "done") return;
      if (!woken) entry.attempt++;
      try {
        await this.#check(entry, signal);
      } catch (err) {
        if (signal.aborted) return;
        log("recovery").debug("Check {attempt} of {host} failed: {error}", {
          attempt: entry.attempt,
          host: entry.req.host,
          error: errorMessage(err),
        });
      }
    }
  }

  /** Waits for the entry's next check; true when woken early (a phase change). */
  #sleep(entry: _Entry): Promise<boolean> {
    const phase = entry.phase === "done" ? "not_back" : entry.phase;
    const ms = nextCheckMs({ source: entry.req.source, phase, attempt: entry.attempt }, this.#o);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        entry.wake = undefined;
        resolve(false);
      }, ms);
      entry.wake = () => {
        clearTimeout(timer);
        entry.wake = undefined;
        resolve(true);
      };
    });
  }

  async #check(entry: _Entry, signal: AbortSignal): Promise<void> {
    const { req } = entry;
    if (entry.phase === "health") {
      if (await this.#healthy(req.healthCheck!, signal, entry)) this.#recovered(entry);
      return;
    }
    if (req.source === "agent") {
      const known = this.#fleet?.get(req.host);
      const alive = known?.online === true && (known.lastHeartbeatAt ?? -Infinity) > entry.since;
      if (entry.phase === "not_back" || req.interrupted) {
        if (alive && entry.phase === "not_back") return this.#seenAgain(entry);
        if (alive) return this.#consider(entry, known!.bootId ?? "", known!.uptimeSec);
        return;
      }
      if (known?.bootId !== undefined && known.bootId !== entry.bootIdBefore && alive) {
        this.#consider(entry, known.bootId, this.#fleet?.uptimeOf(req.host, this.#o.clock.now()));
      }
      return;
    }
    if (req.source === "none") {
      // Not back, watched by its health check alone.
      if (await this.#healthy(req.healthCheck!, signal, entry)) this.#seenAgain(entry);
      return;
    }
    const outcome = await this.#probe(req.probe!, signal);
    if (signal.aborted) return;
    if (outcome.kind !== "ok") {
      log("recovery").debug("Probe {attempt} of {host} failed: {detail}", {
        attempt: entry.attempt,
        host: req.host,
        detail: outcome.detail,
      });
      return;
    }
    if (entry.phase === "not_back") return this.#seenAgain(entry);
    this.#consider(entry, outcome.bootId, outcome.uptimeSec);
  }

  async #probe(probe: BootProbe, signal: AbortSignal): Promise<ProbeOutcome> {
    using _permit = await this.#pool.acquire({ signal });
    try {
      return await probe(signal);
    } catch (err) {
      return { kind: "failed", detail: errorMessage(err) };
    }
  }

  async #healthy(check: HealthCheck, signal: AbortSignal, entry: _Entry): Promise<boolean> {
    using _permit = await this.#pool.acquire({ signal });
    const result = await check(signal).catch((err) => ({
      ok: false as const,
      detail: errorMessage(err),
    }));
    if (!result.ok && !signal.aborted) {
      log("recovery").info("Health check {attempt} of {host} failed: {detail}", {
        attempt: entry.attempt,
        host: entry.req.host,
        detail: result.detail,
      });
    }
    return result.ok;
  }
}

function _view(e: _Entry): TrackedRecovery {
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
