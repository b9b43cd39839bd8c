/**
 * The rules of recovery tracking as pure functions: what shows a new boot,
 * and how long to wait before looking again.
 * @module
 */
import { backoffDelay } from "../async/mod.ts";

/** Slack when comparing a host's uptime with the time since its restart started, ms. */
export const UPTIME_SLACK_MS = 1_000;

/** What is known when a boot id shows up. */
export interface BootSighting {
  /** The boot id seen now. */
  bootId: string;
  /** The uptime that came with it, s, if any. */
  uptimeSec?: number;
  /** The boot id before the restart, if it was known. */
  bootIdBefore?: string;
  /** Time since the restart started, ms. */
  elapsedMs: number;
  /** The restart was interrupted: any sign of life counts. */
  interrupted?: boolean;
  /** `recovery.probeIntervalSec`. */
  probeIntervalSec: number;
}

/**
 * Whether a sighting shows the host booted since its restart: a boot id
 * other than the one before; with that unknown, an uptime no longer than the
 * time since the restart started; with no uptime either (an agent's online
 * status), a boot id heard at least `probeIntervalSec` after the start.
 *
 * @example
 * ```ts
 * isNewBoot({ bootId: "b2", bootIdBefore: "b1", elapsedMs: 5_000, probeIntervalSec: 5 }); // true
 * isNewBoot({ bootId: "b1", uptimeSec: 86_400, elapsedMs: 5_000, probeIntervalSec: 5 }); // false
 * ```
 */
export function isNewBoot(s: BootSighting): boolean {
  if (s.interrupted) return true;
  if (s.bootIdBefore !== undefined) return s.bootId !== s.bootIdBefore;
  if (s.uptimeSec !== undefined) return s.uptimeSec * 1000 <= s.elapsedMs + UPTIME_SLACK_MS;
  return s.elapsedMs >= s.probeIntervalSec * 1000;
}

/** The pace settings of recovery checks. */
export interface CheckPace {
  probeIntervalSec: number;
  probeMaxIntervalSec: number;
  probeJitter: number;
  random: () => number;
}

/**
 * How long to wait before the next check of a host, ms. Looking at the fleet
 * view costs nothing: agent hosts are looked at every `probeIntervalSec`.
 * Probes and health checks are processes: they back off (capped
 * exponential, with jitter) from `probeIntervalSec` to `probeMaxIntervalSec`,
 * and once a host did not come back, run every `probeMaxIntervalSec`.
 */
export function nextCheckMs(
  check: {
    source: "agent" | "probe" | "none";
    phase: "boot" | "health" | "not_back";
    attempt: number;
  },
  pace: CheckPace,
): number {
  if (check.source === "agent" && check.phase !== "health") return pace.probeIntervalSec * 1000;
  if (check.phase === "not_back") {
    return pace.probeMaxIntervalSec * 1000 * (1 - pace.probeJitter * pace.random());
  }
  return backoffDelay(check.attempt + 1, {
    minDelayMs: pace.probeIntervalSec * 1000,
    maxDelayMs: pace.probeMaxIntervalSec * 1000,
    jitter: pace.probeJitter,
    random: pace.random,
  });
}
