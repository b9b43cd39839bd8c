/**
 * The chaos scheduler: Chaos Monkey-style random restarts, per group, inside
 * the group's time windows and safety limits.
 *
 * Every tick (`chaos.tickSec`), for each configured group, it decides whether
 * this is the moment for the group's next chaos restart. Restarts of a group
 * form a renewal process whose average gap is `meanTimeBetweenRestarts`: after
 * a chaos restart the group rests for `minTimeBetweenRestarts`, then restarts
 * arrive as a Poisson process of mean `mean - min` (tick probability
 * `p = 1 - exp(-tick / (mean - min))`), so dead time plus waiting time average
 * `mean`. When `min >= mean` a group restarts every `min`. The victim is drawn
 * uniformly among the group's eligible hosts: up (an agent host: online with a
 * fresh heartbeat), not excluded by pattern, not restarted (by anyone) within
 * `minTimeBetweenRestarts`, and within the unavailability budget — chaos
 * never queues a restart that would have to wait.
 *
 * Leashed (the default), the scheduler only logs and reports what it would
 * restart. Unleashed, it submits a request that goes through the same inbox
 * and policy gate as any other, so every safety rule still applies.
 * @module
 */
import type { z } from "zod";
import type { Clock } from "../clock.ts";
import type { chaosGroupSchema, chaosSchema } from "../config/chaos_schema.ts";
import { parseDuration } from "../config/duration.ts";
import { delay, MAX_DELAY_MS } from "../async/mod.ts";
import { errorMessage, log } from "../log.ts";
import { type ChaosPick, type ChaosRequest, pickVictim } from "./pick.ts";
import { isWithinWindows } from "./window.ts";

/** The `chaos` config section, defaults filled in. */
export type ChaosConfig = z.output<typeof chaosSchema>;
/** The chaos settings of one group, defaults filled in. */
export type ChaosGroupConfig = z.output<typeof chaosGroupSchema>;

/** What one tick decided for one group. */
export type ChaosDecision =
  /** Chaos may not act now: outside the windows, paused, resting, or nobody eligible. */
  | { kind: "skipped"; group: string; reason: string }
  /** Chaos may act, but the dice said not this tick. */
  | { kind: "idle"; group: string }
  /** Leashed: logged and reported, nothing submitted. */
  | ({ kind: "leashed" } & ChaosPick)
  /** Unleashed: the request was submitted. */
  | ({ kind: "submitted" } & ChaosPick)
  /** Unleashed, but `submit` threw. */
  | ({ kind: "failed"; error: string } & ChaosPick);

/** Options of {@linkcode ChaosScheduler}. */
export interface ChaosSchedulerOptions {
  /** The live `chaos` config, read again on every tick so a reload applies at once. */
  config: () => ChaosConfig;
  /** The configured hosts of a group (candidates before the online/exclude/interval filters). */
  hostsOfGroup: (group: string) => readonly string[];
  /** Whether a host is up as far as mandrill can tell (an agent host: online with a fresh heartbeat). Others are never picked. */
  isOnline: (host: string) => boolean;
  /** Whether restarting the host now stays within the unavailability budget; chaos never queues a restart that would wait. Default: always. */
  hasBudget?: (host: string) => boolean;
  /** When a host was last restarted (ms), by anyone; undefined if never. */
  lastRestartAt: (host: string) => number | undefined;
  /** Hands a request to the inbox and policy gate, synchronously. Called only unleashed. */
  submit: (request: ChaosRequest) => void;
  /** The kill switch: true or `{ reason }` while chaos is paused (`() => killSwitch.paused()`). */
  paused: () => boolean | { reason?: string } | undefined;
  /** Time source. */
  clock: Clock;
  /** Uniform random numbers in [0, 1). Default: `Math.random`. */
  random?: () => number;
  /** Called with each pick while leashed. Default: none (the pick is only logged). */
  onLeashed?: (pick: ChaosPick) => void;
  /**
   * Several instances on a shared store: whether this one runs `group`'s
   * schedule now (it holds the group's turn), asked before every tick; a
   * group whose turn it takes over comes with the time of that group's last
   * chaos restart, if any. Default: every group, always.
   */
  turn?: (group: string) => Promise<{ mine: boolean; lastChaosAt?: number }>;
  /** Told of each chaos restart submitted (a shared store remembers it for the next holder of the turn). */
  onSubmitted?: (group: string, at: number) => void;
}

/** Schedules random restarts per group. Call {@linkcode run} once, or drive {@linkcode tick} by hand. */
export class ChaosScheduler {
  readonly #o: ChaosSchedulerOptions;
  readonly #random: () => number;
  readonly #lastChaosOfGroup = new Map<string, number>();
  readonly #lastPickOfHost = new Map<string, number>();
  #lastTickAt: number | undefined;

  /** A scheduler over the injected fleet view, kill switch and clock. */
  constructor(options: ChaosSchedulerOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
  }

  /**
   * One round at time `now` (ms): one decision per configured group, none
   * when chaos is disabled. The probability of a restart grows with the time
   * since the previous tick, counted as at most two ticks (the first tick
   * counts as one): chaos never catches up on time it missed.
   */
  tick(now: number, mine?: ReadonlySet<string>): ChaosDecision[] {
    const config = this.#o.config();
    const tickMs = config.tickSec * 1000;
    const elapsed = this.#lastTickAt === undefined
      ? tickMs
      : Math.min(Math.max(now - this.#lastTickAt, 0), 2 * tickMs);
    this.#lastTickAt = now;
    if (!config.enabled) return [];
    const pausedState = this.#o.paused();
    const paused = pausedState
      ? `paused${
        typeof pausedState === "object" && pausedState.reason ? `: ${pausedState.reason}` : ""
      }`
      : undefined;
    const decisions: ChaosDecision[] = [];
    for (const [group, settings] of Object.entries(config.groups)) {
      const decision = paused !== undefined
        ? { kind: "skipped" as const, group, reason: paused }
        : mine !== undefined && !mine.has(group)
        ? { kind: "skipped" as const, group, reason: "another instance runs its schedule" }
        : this.#decide(group, settings, { now, elapsed, leashed: config.leashed });
      this.#report(decision);
      decisions.push(decision);
    }
    return decisions;
  }

  /**
   * Ticks every `chaos.tickSec` (read live) until `signal` aborts, then
   * resolves. A tick that throws is logged and the loop goes on.
   */
  async run(signal: AbortSignal): Promise<void> {
    const logger = log("chaos");
    while (!signal.aborted) {
      try {
        const mine = await this.#turns();
        this.tick(this.#o.clock.now(), mine);
      } catch (err) {
        logger.error("Chaos tick failed: {error}", { error: errorMessage(err) });
      }
      const ms = Math.min(this.#o.config().tickSec * 1000, MAX_DELAY_MS);
      try {
        await delay(ms, { signal });
      } catch (err) {
        if (signal.aborted) break;
        throw err;
      }
    }
  }

  /** The groups whose turn this instance holds (undefined: all). */
  async #turns(): Promise<Set<string> | undefined> {
    const turn = this.#o.turn;
    const config = this.#o.config();
    if (turn === undefined || !config.enabled) return undefined;
    const mine = new Set<string>();
    for (const group of Object.keys(config.groups)) {
      try {
        const t = await turn(group);
        if (!t.mine) continue;
        mine.add(group);
        if (t.lastChaosAt !== undefined) {
          const known = this.#lastChaosOfGroup.get(group) ?? -Infinity;
          this.#lastChaosOfGroup.set(group, Math.max(known, t.lastChaosAt));
        }
      } catch (err) {
        // Not known to be ours: not ours (never two instances on one schedule).
        log("chaos").warn("Cannot take {group}'s chaos turn: {error}", {
          group,
          error: errorMessage(err),
        });
      }
    }
    return mine;
  }

  #decide(
    group: string,
    settings: ChaosGroupConfig,
    at: { now: number; elapsed: number; leashed: boolean },
  ): ChaosDecision {
    const { now } = at;
    const inWindow = isWithinWindows(settings, now, { group });
    if (!inWindow.ok) return { kind: "skipped", group, reason: inWindow.reason };
    const meanMs = parseDuration(settings.meanTimeBetweenRestarts);
    const minMs = parseDuration(settings.minTimeBetweenRestarts);
    const last = this.#lastChaosOfGroup.get(group);
    if (last !== undefined && now - last < minMs) {
      return {
        kind: "skipped",
        group,
        reason: `last chaos restart in ${group} ${_ago(now - last)} ago, less than ` +
          `minTimeBetweenRestarts (${settings.minTimeBetweenRestarts})`,
      };
    }
    const armedMeanMs = meanMs - minMs;
    const p = armedMeanMs <= 0 ? 1 : 1 - Math.exp(-at.elapsed / armedMeanMs);
    if (!(this.#random() < p)) return { kind: "idle", group };

    const picked = pickVictim(settings, {
      group,
      now,
      candidates: this.#o.hostsOfGroup(group),
      isOnline: (host) => this.#o.isOnline(host),
      restartedRecently: (host) => this.#restartedWithin(host, now, minMs),
      hasBudget: (host) => this.#o.hasBudget?.(host) ?? true,
      random: this.#random,
    });
    if (!picked.ok) return { kind: "skipped", group, reason: picked.reason };
    const { pick } = picked;
    const { host, request } = pick;
    if (!at.leashed) {
      try {
        this.#o.submit(request);
      } catch (err) {
        return { kind: "failed", error: errorMessage(err), ...pick };
      }
      this.#o.onSubmitted?.(group, now);
    }
    // Leashed picks count too, so the log shows the schedule unleashed chaos would follow.
    this.#lastChaosOfGroup.set(group, now);
    this.#lastPickOfHost.set(host, now);
    return { kind: at.leashed ? "leashed" : "submitted", ...pick };
  }

  #restartedWithin(host: string, now: number, ms: number): boolean {
    const times = [this.#o.lastRestartAt(host), this.#lastPickOfHost.get(host)];
    return times.some((t) => t !== undefined && now - t < ms);
  }

  #report(d: ChaosDecision): void {
    const logger = log("chaos");
    switch (d.kind) {
      case "leashed":
        logger.info("Chaos (leashed) would restart {host} in group {group}", {
          host: d.host,
          group: d.group,
          id: d.request.id,
        });
        this.#o.onLeashed?.({ group: d.group, host: d.host, request: d.request });
        break;
      case "submitted":
        logger.info("Chaos: restarting {host} in group {group}", {
          host: d.host,
          group: d.group,
          id: d.request.id,
        });
        break;
      case "failed":
        logger.error("Chaos: cannot submit the restart of {host} in group {group}: {error}", {
          host: d.host,
          group: d.group,
          id: d.request.id,
          error: d.error,
        });
        break;
      case "skipped":
        logger.debug("Chaos skipped {group}: {reason}", { group: d.group, reason: d.reason });
        break;
      case "idle":
        break;
    }
  }
}

function _ago(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m}m` : `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ""}`;
}
