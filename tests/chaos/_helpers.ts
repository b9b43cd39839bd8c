/**
 * Helpers of the chaos tests: a seeded PRNG, window literals, and a scheduler
 * wired to an in-memory fleet. Not a test file itself (no `_test` suffix).
 * @module
 */
import { FakeClock } from "../../src/clock.ts";
import { chaosSchema } from "../../src/config/chaos_schema.ts";
import { type ChaosConfig, ChaosScheduler } from "../../src/chaos/scheduler.ts";
import type { ChaosPick, ChaosRequest } from "../../src/chaos/pick.ts";
import type { ChaosWindow, WeekDay } from "../../src/chaos/window.ts";

/**
 * mulberry32: a tiny seeded PRNG with uniform output in [0, 1), so
 * statistical tests are deterministic.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A window literal: `win("mon-fri", "09:00", "17:00", "Europe/Paris")`, days as a range or a list. */
export function win(days: string, start: string, end: string, timeZone = "UTC"): ChaosWindow {
  const all: WeekDay[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const range = /^(\w{3})-(\w{3})$/.exec(days);
  const list = range
    ? all.slice(all.indexOf(range[1] as WeekDay), all.indexOf(range[2] as WeekDay) + 1)
    : days.split(",") as WeekDay[];
  return { days: list, start, end, timeZone };
}

/** Ms since the epoch of a UTC ISO time without the trailing Z: `utc("2026-03-29T00:59")`. */
export function utc(iso: string): number {
  return Date.parse(`${iso}Z`);
}

/** Options of {@linkcode fleetHarness}. */
export interface HarnessOptions {
  /** The `chaos` section as written (defaults filled in by the schema). */
  chaos: unknown;
  /** Group -> hosts. */
  groups: Record<string, string[]>;
  /** Hosts whose agent is offline. Default: none. */
  offline?: string[];
  /** Seed of the PRNG. Default: 1. */
  seed?: number;
  /** Replaces the seeded PRNG. Default: mulberry32(seed). */
  random?: () => number;
  /** Start of time. Default: 2026-01-01T00:00Z (a Thursday). */
  start?: number;
}

/** A scheduler over an in-memory fleet that records what it submits and would submit. */
export interface Harness {
  scheduler: ChaosScheduler;
  clock: FakeClock;
  config: ChaosConfig;
  /** Submitted requests, with the time of submission. */
  submitted: (ChaosRequest & { at: number })[];
  /** Leashed picks, with their time. */
  leashed: (ChaosPick & { at: number })[];
  /** Set to pause (with a reason) or undefined to run. */
  pause: { state: { reason?: string } | undefined };
  /** Host -> last restart (ms); submit() updates it, as the executor would. */
  lastRestart: Map<string, number>;
  offline: Set<string>;
  /** Runs ticks every `tickSec` from now for `ms`; returns the number of ticks. */
  runFor(ms: number): number;
}

/** Builds a {@linkcode Harness}. */
export function fleetHarness(options: HarnessOptions): Harness {
  const clock = new FakeClock(options.start ?? Date.UTC(2026, 0, 1));
  const h: Harness = {
    clock,
    config: chaosSchema.parse(options.chaos),
    submitted: [],
    leashed: [],
    pause: { state: undefined },
    lastRestart: new Map(),
    offline: new Set(options.offline ?? []),
    scheduler: undefined as unknown as ChaosScheduler,
    runFor(ms) {
      const step = h.config.tickSec * 1000;
      const end = clock.now() + ms;
      let n = 0;
      for (; clock.now() < end; clock.advance(step), n++) h.scheduler.tick(clock.now());
      return n;
    },
  };
  h.scheduler = new ChaosScheduler({
    config: () => h.config,
    hostsOfGroup: (group) => options.groups[group] ?? [],
    isOnline: (host) => !h.offline.has(host),
    lastRestartAt: (host) => h.lastRestart.get(host),
    submit: (request) => {
      h.submitted.push({ ...request, at: clock.now() });
      h.lastRestart.set(request.host, clock.now());
    },
    paused: () => h.pause.state,
    clock,
    random: options.random ?? mulberry32(options.seed ?? 1),
    onLeashed: (pick) => h.leashed.push({ ...pick, at: clock.now() }),
  });
  return h;
}
