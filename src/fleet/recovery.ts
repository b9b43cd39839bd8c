/**
 * Recovery tracking: after a successful restart, waits for the host to come
 * back with a new boot id and reports how long that took, or that it did not
 * come back in time.
 * @module
 */
import { backoffDelay, delay } from "../async/mod.ts";
import { type Clock, systemClock } from "../clock.ts";
import { errorMessage, log } from "../log.ts";
import type { BootChange, FleetView } from "./fleet_view.ts";

/**
 * What a boot id probe (e.g. `cat /proc/sys/kernel/random/boot_id /proc/uptime`
 * over SSH) found: the boot id, and the uptime in seconds where it could be read.
 */
export type ProbeOutcome =
  | { kind: "ok"; bootId: string; uptimeSec?: number }
  | { kind: "failed"; detail: string };

/** Slack when comparing a host's uptime with the time since its restart started, ms. */
const UPTIME_SLACK_MS = 1_000;

/** Reads a host's current boot id. Must honour `signal`; throwing counts as a failed probe. */
export type BootProbe = (signal: AbortSignal) => Promise<ProbeOutcome>;

/** One restart whose recovery is awaited. */
export interface TrackRequest {
  /** Request id of the restart. */
  id: string;
  host: string;
  /** When the restart started (ms, from the same clock as the tracker's). */
  startedAt: number;
  /**
   * The host's boot id before the restart. Default: the fleet view's boot id
   * for the host at `track()` time, if any.
   */
  bootIdBefore?: string;
  /** Polls the boot id, for hosts without an agent (SSH-only). Default: rely on heartbeats. */
  probe?: BootProbe;
}

/** A host came back. */
export interface RecoveredEvent {
  id: string;
  host: string;
  /** From the restart's start to the first sign of the new boot, in ms. */
  recoveryMs: number;
  /** The new boot id. */
  bootId: string;
}

/** A host did not come back within `recoveryTimeoutSec`. */
export interface RecoveryTimeoutEvent {
  id: string;
  host: string;
  /** E.g. "web-1 did not come back within 600 s". */
  detail: string;
}

/** Options of {@linkcode RecoveryTracker}. */
export interface RecoveryTrackerOptions {
  /** Source of agents' boot ids (heartbeats and online statuses). Default: none, probes only. */
  fleet?: FleetView;
  /** Time source for `startedAt` and `recoveryMs`. Default: the system clock. */
  clock?: Clock;
  /** Give up on a host after this many seconds from its `startedAt`. Default: 600. */
  recoveryTimeoutSec?: number;
  /** First probe delay and the least time before an unknown-before boot id counts, in s. Default: 5. */
  probeIntervalSec?: number;
  /** Longest delay between probes, in s. Default: 60. */
  probeMaxIntervalSec?: number;
  /** Share of each probe delay that is randomised, in [0, 1]. Default: 0.2. */
  probeJitter?: number;
  /** Randomness for the jitter, in [0, 1). Default: `Math.random`. */
  random?: () => number;
  /** Called once per recovered restart; must not throw. Default: none. */
  onRecovered?: (event: RecoveredEvent) => void;
  /** Called once per restart that did not come back; must not throw. Default: none. */
  onTimeout?: (event: RecoveryTimeoutEvent) => void;
  /** Aborting it stops tracking everything (no callbacks). Default: none. */
  signal?: AbortSignal;
}

interface _Entry {
  req: TrackRequest;
  bootIdBefore: string | undefined;
  controller: AbortController;
  timer: ReturnType<typeof setTimeout> | undefined;
  probing: Promise<void> | undefined;
  done: boolean;
}

/**
 * Tracks restarts until their hosts are back.
 *
 * A host is back when a boot id different from `bootIdBefore` shows up: from
 * the fleet view (an agent's heartbeat or online status), or from `probe`,
 * which is called after `probeIntervalSec` and then with capped exponential
 * backoff (`backoffDelay`, min `probeIntervalSec`, max `probeMaxIntervalSec`).
 * When the boot id before the restart is unknown, the host is back once it
 * reports an uptime no longer than the time since `startedAt` (it booted after
 * the restart began; a probe's or a heartbeat's uptime). Only where no uptime
 * comes with the boot id (an agent's online status) does a boot id heard at
 * least `probeIntervalSec` after `startedAt` count on its own.
 *
 * @example
 * ```ts
 * await using tracker = new RecoveryTracker({ fleet, clock, onRecovered: (e) => emit(e) });
 * tracker.track({ id, host, startedAt, bootIdBefore: fleet.get(host)?.bootId });
 * ```
 */
export class RecoveryTracker implements AsyncDisposable {
  readonly #o: Required<Omit<RecoveryTrackerOptions, "fleet" | "signal">>;
  readonly #fleet: FleetView | undefined;
  readonly #entries = new Map<string, _Entry>();
  readonly #byHost = new Map<string, Set<_Entry>>();
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
      onTimeout: options.onTimeout ?? (() => {}),
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
    this.#subscription = this.#fleet?.onBootChange((c) => this.#onBootChange(c));
    this.#signal = options.signal;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (this.#signal?.aborted) this.#cancelAll();
  }

  /** Number of restarts being tracked. */
  get size(): number {
    return this.#entries.size;
  }

  /** True while the recovery of a restart of `host` is awaited. */
  isAwaiting(host: string): boolean {
    return (this.#byHost.get(host)?.size ?? 0) > 0;
  }

  /**
   * Starts tracking one restart. Throws a `TypeError` if `req.id` is already
   * tracked, and an `Error` once the tracker is disposed or aborted.
   */
  track(req: TrackRequest): void {
    if (this.#closed) throw new Error("Cannot track a recovery: the tracker is closed");
    if (this.#entries.has(req.id)) {
      throw new TypeError(`Cannot track ${req.id} twice`);
    }
    const known = this.#fleet?.get(req.host);
    const entry: _Entry = {
      req,
      bootIdBefore: req.bootIdBefore ?? known?.bootId,
      controller: new AbortController(),
      timer: undefined,
      probing: undefined,
      done: false,
    };
    this.#entries.set(req.id, entry);
    let set = this.#byHost.get(req.host);
    if (set === undefined) this.#byHost.set(req.host, set = new Set());
    set.add(entry);
    const deadlineMs = req.startedAt + this.#o.recoveryTimeoutSec * 1000;
    entry.timer = setTimeout(
      () => this.#timeout(entry),
      Math.max(0, deadlineMs - this.#o.clock.now()),
    );
    // The new boot may already have been heard between the restart and now.
    const seenAt = known?.lastHeartbeatAt ?? known?.lastStatusAt;
    if (known?.bootId !== undefined && seenAt !== undefined && seenAt >= req.startedAt) {
      const bootId = known.bootId;
      const uptimeSec = this.#fleet?.uptimeOf(req.host, this.#o.clock.now());
      queueMicrotask(() => this.#consider(entry, bootId, uptimeSec));
    }
    if (req.probe !== undefined) {
      entry.probing = this.#probeLoop(entry, req.probe).catch((err) => {
        log("recovery").error("Probe loop for {host} failed: {error}", {
          host: req.host,
          error: errorMessage(err),
        });
      });
    }
  }

  /** Stops tracking `id` without calling back. True if it was tracked. */
  untrack(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#finish(entry);
    return true;
  }

  /** Stops tracking everything (no callbacks) and waits for running probes to end. */
  async [Symbol.asyncDispose](): Promise<void> {
    const probing = [...this.#entries.values()].map((e) => e.probing);
    this.#cancelAll();
    await Promise.all(probing);
  }

  #cancelAll(): void {
    this.#closed = true;
    this.#subscription?.[Symbol.dispose]();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    for (const entry of [...this.#entries.values()]) this.#finish(entry);
  }

  #onBootChange(change: BootChange): void {
    const set = this.#byHost.get(change.host);
    if (set === undefined) return;
    for (const entry of [...set]) this.#consider(entry, change.bootId, change.uptimeSec);
  }

  /** Settles `entry` as recovered if `bootId` (with the uptime, if known) shows a new boot. */
  #consider(entry: _Entry, bootId: string, uptimeSec?: number): void {
    if (entry.done) return;
    const elapsed = this.#o.clock.now() - entry.req.startedAt;
    const isNew = entry.bootIdBefore !== undefined
      ? bootId !== entry.bootIdBefore
      : uptimeSec !== undefined
      ? uptimeSec * 1000 <= elapsed + UPTIME_SLACK_MS
      : elapsed >= this.#o.probeIntervalSec * 1000;
    if (!isNew) return;
    this.#finish(entry);
    const event = { id: entry.req.id, host: entry.req.host, recoveryMs: elapsed, bootId };
    log("recovery").info("{host} is back after {seconds} s (boot id {bootId})", {
      id: event.id,
      host: event.host,
      seconds: Math.round(elapsed / 100) / 10,
      bootId,
    });
    _call(() => this.#o.onRecovered(event));
  }

  #timeout(entry: _Entry): void {
    entry.timer = undefined;
    if (entry.done) return;
    this.#finish(entry);
    const unknownBefore = entry.bootIdBefore === undefined
      ? " (its boot id before the restart is unknown, and no uptime showed a boot since)"
      : "";
    const detail =
      `${entry.req.host} did not come back within ${this.#o.recoveryTimeoutSec} s${unknownBefore}`;
    log("recovery").warn(detail, { id: entry.req.id, host: entry.req.host });
    _call(() => this.#o.onTimeout({ id: entry.req.id, host: entry.req.host, detail }));
  }

  #finish(entry: _Entry): void {
    if (entry.done) return;
    entry.done = true;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.controller.abort(new Error("recovery tracking ended"));
    this.#entries.delete(entry.req.id);
    const set = this.#byHost.get(entry.req.host);
    set?.delete(entry);
    if (set?.size === 0) this.#byHost.delete(entry.req.host);
  }

  async #probeLoop(entry: _Entry, probe: BootProbe): Promise<void> {
    const signal = entry.controller.signal;
    const backoff = {
      minDelayMs: this.#o.probeIntervalSec * 1000,
      maxDelayMs: this.#o.probeMaxIntervalSec * 1000,
      jitter: this.#o.probeJitter,
      random: this.#o.random,
    };
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await delay(backoffDelay(attempt, backoff), { signal });
      } catch {
        return; // aborted: recovered, timed out or disposed
      }
      let outcome: ProbeOutcome;
      try {
        outcome = await probe(signal);
      } catch (err) {
        outcome = { kind: "failed", detail: errorMessage(err) };
      }
      if (signal.aborted) return;
      if (outcome.kind === "ok") {
        this.#consider(entry, outcome.bootId, outcome.uptimeSec);
      } else {
        log("recovery").debug("Probe {attempt} of {host} failed: {detail}", {
          attempt,
          host: entry.req.host,
          detail: outcome.detail,
        });
      }
    }
  }
}

function _call(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log("recovery").error("Recovery callback failed: {error}", { error: errorMessage(err) });
  }
}
