/**
 * The data of recovery tracking: what is watched, how, and what is reported.
 * @module
 */
import type { Semaphore } from "../async/mod.ts";
import type { Clock } from "../clock.ts";
import type { FleetView } from "../fleet/fleet_view.ts";

/**
 * What a boot id probe (`cat /proc/sys/kernel/random/boot_id /proc/uptime`
 * over SSH) found: the boot id, and the uptime in seconds where it could be read.
 */
export type ProbeOutcome =
  | { kind: "ok"; bootId: string; uptimeSec?: number }
  | { kind: "failed"; detail: string };

/** Reads a host's current boot id. Must honour `signal`; throwing counts as a failed probe. */
export type BootProbe = (signal: AbortSignal) => Promise<ProbeOutcome>;

/** Checks that a host is healthy (a local command, host appended). Must honour `signal`. */
export type HealthCheck = (
  signal: AbortSignal,
) => Promise<{ ok: true } | { ok: false; detail: string }>;

/**
 * How a new boot is seen: `agent`, from the host's agent (heartbeats and
 * online statuses); `probe`, from `probe` alone (SSH hosts: a heartbeat on
 * their topic proves nothing); `none`, not at all (the health check decides).
 */
export type RecoverySource = "agent" | "probe" | "none";

/** One restart whose recovery is awaited. */
export interface TrackRequest {
  /** Request id of the restart. */
  id: string;
  host: string;
  /** When the restart started (ms, from the same clock as the tracker's). */
  startedAt: number;
  /** How the new boot is seen. Required. */
  source: RecoverySource;
  /**
   * The host's boot id before the restart. Default: for `agent`, the fleet
   * view's boot id at `track()` time; else unknown (then an uptime shorter
   * than the time since `startedAt` shows the new boot).
   */
  bootIdBefore?: string;
  /** Reads the boot id; required for source `probe`. */
  probe?: BootProbe;
  /** Must pass, after the new boot (or after the command, for `none`), before the host is back. */
  healthCheck?: HealthCheck;
  /**
   * The restart was interrupted: whether it happened is unknown, so any sign
   * of life after tracking began counts as back. Default: false.
   */
  interrupted?: boolean;
  /** Resume a host that already did not come back: watch until it is seen again. Default: false. */
  notBack?: boolean;
  /** Give up at this time (ms). Default: `startedAt + recoveryTimeoutSec`. */
  deadlineAt?: number;
}

/** A host came back. */
export interface RecoveredEvent {
  id: string;
  host: string;
  /** From the restart's start to the new boot (and passed health check), in ms. */
  recoveryMs: number;
  /** The new boot id, where one was seen. */
  bootId?: string;
  /** The restart had been interrupted (see {@linkcode TrackRequest.interrupted}). */
  interrupted: boolean;
}

/** A host did not come back within `recoveryTimeoutSec`; it is watched on until seen again. */
export interface NotBackEvent {
  id: string;
  host: string;
  /** E.g. "web-1 did not come back within 600 s". */
  detail: string;
  interrupted: boolean;
}

/** A host that did not come back was seen again (a heartbeat, a probe or a health check answered). */
export interface SeenAgainEvent {
  id: string;
  host: string;
}

/** Options of `RecoveryTracker`. */
export interface RecoveryTrackerOptions {
  /** Source of agents' boot ids (heartbeats and online statuses). Default: none, probes only. */
  fleet?: FleetView;
  /** Time source for `startedAt` and `recoveryMs`. Default: the system clock. */
  clock?: Clock;
  /** Give up on a host after this many seconds from its `startedAt`. Default: 600. */
  recoveryTimeoutSec?: number;
  /** First delay between checks, in s; each host backs off from there. Default: 5. */
  probeIntervalSec?: number;
  /** Longest delay between checks, in s (the pace once a host did not come back). Default: 60. */
  probeMaxIntervalSec?: number;
  /** Share of each delay that is randomised, in [0, 1]. Default: 0.2. */
  probeJitter?: number;
  /** Randomness for the jitter, in [0, 1). Default: `Math.random`. */
  random?: () => number;
  /** Bounds the probe and health-check processes at once (`recovery.maxProbes`). Default: 16. */
  pool?: Semaphore;
  /** Called once per recovered restart; must not throw. Default: none. */
  onRecovered?: (event: RecoveredEvent) => void;
  /** Called once per restart that did not come back in time; must not throw. Default: none. */
  onNotBack?: (event: NotBackEvent) => void;
  /** Called once when a host that did not come back is seen again; must not throw. Default: none. */
  onSeenAgain?: (event: SeenAgainEvent) => void;
  /** Aborting it stops tracking everything (no callbacks). Default: none. */
  signal?: AbortSignal;
}
