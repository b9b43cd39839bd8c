/**
 * The breaker: when `policy.breaker.failures` restarts fail or do not come
 * back within `policy.breaker.withinSec`, mandrill engages the kill switch
 * itself (Netflix Chaos Monkey's outage checker, AWS FIS stop conditions).
 * Failures before the latest resume are forgotten. On a shared store the
 * failures of every instance count: {@linkcode Breaker.observe} feeds in the
 * shared history's (each failure once, by its request id).
 * @module
 */
import type { Clock } from "../clock.ts";

/** The config's `policy.breaker`; null turns the breaker off. */
export type BreakerSettings = { failures: number; withinSec: number } | null;

/** Options of {@linkcode Breaker}. */
export interface BreakerOptions {
  /** The live settings (a reload applies at once). Required. */
  settings: () => BreakerSettings;
  /** Time source. Required. */
  clock: Clock;
  /**
   * Engages the kill switch with `reason`; called once per trip. Must not
   * throw. Required.
   */
  trip: (reason: string) => void;
  /** Failures that happened before this process started (from history). Default: none. */
  seed?: readonly BreakerFailure[];
}

/** A restart that failed or did not come back. */
export interface BreakerFailure {
  /** Its request id: a failure seen twice (here and in the shared history) counts once. */
  id: string;
  host: string;
  /** When, ms. */
  at: number;
}

/** Counts failed restarts; see the module doc. */
export class Breaker {
  readonly #o: BreakerOptions;
  #failures: BreakerFailure[];
  #tripped = false;
  #trips = 0;

  /** A breaker over `options.seed`; it does not trip on the seed alone until the next failure. */
  constructor(options: BreakerOptions) {
    this.#o = options;
    this.#failures = [...(options.seed ?? [])];
  }

  /** How many times it tripped since start. */
  get trips(): number {
    return this.#trips;
  }

  /** Counts the restart `id` of `host` that failed or did not come back; may trip. */
  failure(host: string, id: string): void {
    this.#count([{ id, host, at: this.#o.clock.now() }]);
  }

  /**
   * Failures from a shared history (every instance's, this one's included):
   * those not counted yet count now; may trip.
   */
  observe(failures: readonly BreakerFailure[]): void {
    this.#count(failures);
  }

  #count(failures: readonly BreakerFailure[]): void {
    const settings = this.#o.settings();
    const now = this.#o.clock.now();
    const known = new Set(this.#failures.map((f) => f.id));
    const fresh = failures.filter((f) => !known.has(f.id) && f.at > this.#resetAt);
    if (fresh.length === 0) return;
    this.#failures.push(...fresh);
    if (settings === null) return;
    const from = now - settings.withinSec * 1000;
    this.#failures = this.#failures.filter((f) => f.at >= from);
    if (this.#tripped || this.#failures.length < settings.failures) return;
    this.#tripped = true;
    this.#trips++;
    const hosts = [...new Set(this.#failures.map((f) => f.host))];
    const named = hosts.length > 5 ? `${hosts.slice(0, 5).join(", ")}, ...` : hosts.join(", ");
    this.#o.trip(
      `breaker: ${this.#failures.length} restarts failed within ${settings.withinSec}s (${named})`,
    );
  }

  /** The kill switch was released at `at` (ms): failures until then are forgotten. */
  reset(at: number): void {
    this.#failures = this.#failures.filter((f) => f.at > at);
    this.#resetAt = Math.max(this.#resetAt, at);
    this.#tripped = false;
  }

  #resetAt = -Infinity;
}
