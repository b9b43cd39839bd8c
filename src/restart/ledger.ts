/**
 * The restart ledger: when each host was last restarted and how many restarts
 * started in the last hour, for the policy gate's rate rules. In memory,
 * seeded from history at start-up; memory is bounded by the fleet's size.
 * @module
 */

const HOUR_MS = 3_600_000;

/** Restart times per host and across the fleet. */
export class RestartLedger {
  readonly #last = new Map<string, number>();
  /** Start times within the last hour, oldest first. */
  #window: number[] = [];
  #head = 0;

  /** Records a restart of `host` that started at `at` (ms). */
  record(host: string, at: number): void {
    const prev = this.#last.get(host);
    if (prev === undefined || at > prev) this.#last.set(host, at);
    this.#window.push(at);
  }

  /** When `host` was last restarted, if known. */
  lastRestartAt(host: string): number | undefined {
    return this.#last.get(host);
  }

  /** Restarts started in the hour before `now`. */
  countLastHour(now: number): number {
    const w = this.#window;
    while (this.#head < w.length && w[this.#head]! <= now - HOUR_MS) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > w.length) {
      this.#window = w.slice(this.#head);
      this.#head = 0;
    }
    return this.#window.length - this.#head;
  }
}
