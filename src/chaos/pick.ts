/**
 * Chaos picking: which host of a group a chaos restart hits, drawn uniformly
 * among the eligible ones, and the request it makes. Pure, given the facts
 * and the random source.
 * @module
 */
import { hostMatcher } from "./glob.ts";

/** A restart request made by chaos, in the shape of a `{p}/restart` request. */
export interface ChaosRequest {
  /** `chaos-<group>-<ms>-<random>`: valid message id characters only. */
  id: string;
  host: string;
  reason: string;
  requestedBy: "chaos";
}

/** A host chaos picked, with the request it makes (or would make, leashed). */
export interface ChaosPick {
  group: string;
  host: string;
  request: ChaosRequest;
}

/** The settings of a group that picking reads; a `ChaosGroupConfig` is one. */
export interface PickSettings {
  /** Host name patterns never picked. */
  exclude: readonly string[];
  /** As written, e.g. `"1h"`: named when hosts restarted within it are passed over. */
  minTimeBetweenRestarts: string;
  /** As written, e.g. `"4h"`: named in the request's reason. */
  meanTimeBetweenRestarts: string;
}

/** Options of {@linkcode pickVictim}. */
export interface PickOptions {
  /** The group picked in. */
  group: string;
  /** Time of the pick (ms), in the request id. */
  now: number;
  /** The configured hosts of the group. */
  candidates: readonly string[];
  /** Whether a host is up; others are never picked. */
  isOnline: (host: string) => boolean;
  /** Whether a host was restarted (by anyone) within `minTimeBetweenRestarts`. */
  restartedRecently: (host: string) => boolean;
  /** Whether restarting the host now stays within the unavailability budget. Default: always. */
  hasBudget?: (host: string) => boolean;
  /** Uniform random numbers in [0, 1). */
  random: () => number;
}

/** A pick, or why no host of the group is eligible. */
export type PickResult = { ok: true; pick: ChaosPick } | { ok: false; reason: string };

/**
 * Draws the victim uniformly among the candidates that are not excluded, up,
 * not restarted recently and within the budget, and builds its request.
 */
export function pickVictim(settings: PickSettings, options: PickOptions): PickResult {
  const { group, candidates, random } = options;
  const excluded = hostMatcher(settings.exclude);
  const counts = { offline: 0, excluded: 0, recent: 0, budget: 0 };
  const eligible: string[] = [];
  for (const host of candidates) {
    if (excluded(host)) counts.excluded++;
    else if (!options.isOnline(host)) counts.offline++;
    else if (options.restartedRecently(host)) counts.recent++;
    else if (options.hasBudget?.(host) === false) counts.budget++;
    else eligible.push(host);
  }
  if (eligible.length === 0) {
    return {
      ok: false,
      reason: `no eligible host in ${group} (${candidates.length} in the group: ` +
        `${counts.excluded} excluded, ${counts.offline} not up, ` +
        `${counts.recent} restarted less than ${settings.minTimeBetweenRestarts} ago, ` +
        `${counts.budget} over the unavailability budget)`,
    };
  }
  const host = eligible[Math.min(Math.floor(random() * eligible.length), eligible.length - 1)]!;
  const request: ChaosRequest = {
    id: chaosRequestId(group, options.now, random),
    host,
    reason:
      `chaos: random restart in group ${group} (mean time between restarts ${settings.meanTimeBetweenRestarts})`,
    requestedBy: "chaos",
  };
  return { ok: true, pick: { group, host, request } };
}

/**
 * The id of a chaos request: `chaos-<group>-<now>-<6 random base-36 chars>`,
 * the group name reduced to valid id characters and cut so the id stays
 * within 128 characters.
 */
export function chaosRequestId(group: string, now: number, random: () => number): string {
  const safe = group.replace(/[^A-Za-z0-9._:-]/g, "_").slice(0, 80);
  const rand = Math.floor(random() * 36 ** 6).toString(36).padStart(6, "0");
  return `chaos-${safe}-${Math.floor(now)}-${rand}`;
}
