/**
 * The policy gate: DESIGN.md's safety rules as one pure function of
 * (request, host, fleet state, history, clock). No I/O here. Rules that
 * refuse skip the request; the unavailability budget, last, makes it wait.
 * @module
 */

/** The policy settings the gate reads (a subset of the config's `policy`). */
export interface PolicySettings {
  dryRun: boolean;
  minIntervalSec: number;
  maxPerHour: number;
  minUptimeSec: number;
}

/** What the gate knows about the world at the moment of decision. */
export interface GateState {
  /** Current time, ms. */
  now: number;
  /** Whether mandrill may restart this host at all (named in config or announced where allowed). */
  known: boolean;
  /** Another request for the host is in flight, or its recovery is being awaited. */
  busy: boolean;
  /** When the host was last restarted (ms), if ever. */
  lastRestartAt?: number;
  /** Restarts started in the last hour across the fleet. */
  restartsLastHour: number;
  /** The host's uptime from its latest heartbeat, if any. */
  uptimeSec?: number;
  /** The kill switch, with its reason, when engaged. */
  paused?: { reason?: string };
  /** Set, to the full reason, when a time window applies and the current time is outside it. */
  outsideWindow?: string;
  /** Set when restarting the host now would exceed the unavailability budget. */
  overBudget?: { code: "group" | "fleet"; reason: string };
}

/**
 * Why the gate skips a request, as a small fixed set (the `reason` label of
 * `mandrill_skips_total`); the skip's `reason` text says it in full.
 */
export const SKIP_CODES = [
  "unknown_host",
  "paused",
  "window",
  "dry_run",
  "busy",
  "min_interval",
  "min_uptime",
  "max_per_hour",
  "budget",
] as const;
/** One of {@linkcode SKIP_CODES}. */
export type SkipCode = typeof SKIP_CODES[number];

/** Why a request waits: the group's or the fleet-wide unavailability budget (`mandrill_requests_waiting{reason}`). */
export type WaitCode = "group" | "fleet";

/** The gate's decision. */
export type GateDecision =
  | { kind: "allow" }
  | { kind: "skip"; code: SkipCode; reason: string }
  | { kind: "wait"; code: WaitCode; reason: string };

const allow: GateDecision = { kind: "allow" };

/**
 * Decides whether a restart may go ahead now, must wait for the budget, or is
 * skipped. Rules are checked in a fixed order so a skip always names the most
 * fundamental reason; the budget comes last, so a request that would be
 * skipped anyway never waits.
 */
export function decide(
  request: { host: string; dryRun?: boolean },
  settings: PolicySettings,
  state: GateState,
): GateDecision {
  const skip = (code: SkipCode, reason: string): GateDecision => ({ kind: "skip", code, reason });
  if (!state.known) {
    return skip("unknown_host", `unknown host: ${request.host} is not in the fleet`);
  }
  if (state.paused) {
    return skip("paused", state.paused.reason ? `paused: ${state.paused.reason}` : "paused");
  }
  if (state.outsideWindow) return skip("window", state.outsideWindow);
  if (settings.dryRun || request.dryRun) return skip("dry_run", "dry run");
  if (state.busy) return skip("busy", "host already being restarted");
  if (state.lastRestartAt !== undefined && settings.minIntervalSec > 0) {
    const agoSec = (state.now - state.lastRestartAt) / 1000;
    if (agoSec < settings.minIntervalSec) {
      return skip(
        "min_interval",
        `restarted ${
          Math.floor(agoSec)
        }s ago, less than minIntervalSec (${settings.minIntervalSec}s)`,
      );
    }
  }
  if (settings.minUptimeSec > 0) {
    if (state.uptimeSec === undefined) {
      return skip(
        "min_uptime",
        `uptime unknown (no heartbeat), minUptimeSec is ${settings.minUptimeSec}s`,
      );
    }
    if (state.uptimeSec < settings.minUptimeSec) {
      return skip(
        "min_uptime",
        `uptime ${Math.floor(state.uptimeSec)}s below minUptimeSec (${settings.minUptimeSec}s)`,
      );
    }
  }
  if (state.restartsLastHour >= settings.maxPerHour) {
    return skip(
      "max_per_hour",
      `maxPerHour reached (${settings.maxPerHour} restarts in the last hour)`,
    );
  }
  if (state.overBudget) {
    const over = state.overBudget;
    // Read only when shown: a waiting request is gated again on every change.
    return {
      kind: "wait",
      code: over.code,
      get reason() {
        return over.reason;
      },
    };
  }
  return allow;
}
