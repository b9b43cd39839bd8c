/**
 * Requests waiting for the unavailability budget, in arrival order, and who
 * gets a slot when one frees: the budget asks {@linkcode Turns.admit} after a
 * host became available again, and the first waiters that fit are woken, each
 * with its host reserved (counted as restarting) until it starts or leaves. A
 * freed slot goes to exactly one request that fits — not raced for by all of
 * them, and never to two (a thousand waiting requests each gated again on
 * every change were most of the executor's CPU; waking one that then does not
 * fit, and handing on, walked the whole queue on every release).
 * @module
 */

/** Whether restarting a host fits the budget now; the codes of `BudgetCheck`. */
export type Fit = "ok" | "group" | "fleet";

/** Options of {@linkcode Turns}. */
export interface TurnsOptions {
  /** Whether restarting `host` fits now, counting every reservation. Required. */
  fits(host: string): Fit;
  /** The group key of `host` (its group, or the host itself). Required. */
  groupOf(host: string): string;
  /** Counts `host` as restarting (reserved) or, with `false`, no longer. Required. */
  reserve(host: string, reserved: boolean): void;
}

interface _Waiter {
  host: string;
  resolve: () => void;
  /** Not admitted until it waits again (its last turn did not become a start). */
  resting: boolean;
}

/** Waiting requests in arrival order and their reservations; see the module doc. */
export class Turns implements Disposable {
  readonly #o: TurnsOptions;
  readonly #queue = new Map<AbortSignal, _Waiter>();
  /** Admitted and not yet started or gone: the host each holds a place for. */
  readonly #reserved = new Map<AbortSignal, string>();
  #admitQueued = false;
  readonly #ticks = new Map<
    number,
    { promise: Promise<void>; resolve: () => void; timer: ReturnType<typeof setTimeout> }
  >();

  /** Builds an empty queue. */
  constructor(options: TurnsOptions) {
    this.#o = options;
  }

  /** Requests waiting (not admitted). */
  get waiting(): number {
    return this.#queue.size;
  }

  /**
   * Waits for `host`'s turn: resolves when it is admitted (its host reserved),
   * within `timeoutMs` (a tick shared by every waiter), or when `signal` aborts — the caller gates again
   * either way, and calls this again (keeping its place) or
   * {@linkcode leave}. With `rest`, or after a turn that did not become a
   * start, it keeps its place but is not admitted before its next call.
   */
  wait(
    host: string,
    options: { signal: AbortSignal; timeoutMs: number; rest?: boolean },
  ): Promise<void> {
    const { signal } = options;
    if (signal.aborted) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    const known = this.#queue.get(signal);
    if (known !== undefined) {
      Object.assign(known, { host, resolve, resting: options.rest === true });
    } else if (this.#reserved.has(signal)) {
      // Its turn came and it did not start: the place it held goes to the next.
      this.#unreserve(signal);
      this.#queue.set(signal, { host, resolve, resting: true });
    } else {
      this.#queue.set(signal, { host, resolve, resting: options.rest === true });
      signal.addEventListener("abort", () => this.leave(signal), { once: true });
    }
    return Promise.race([promise, this.#tick(options.timeoutMs)]);
  }

  /** `signal`'s request no longer waits: it started (its host is held now), was skipped, or gave up. */
  leave(signal: AbortSignal): void {
    this.#queue.get(signal)?.resolve();
    this.#queue.delete(signal);
    this.#unreserve(signal);
  }

  /** A slot may have freed: admits the first waiters that fit, soon (once per turn of the event loop). */
  admit(): void {
    if (this.#admitQueued || this.#queue.size === 0) return;
    this.#admitQueued = true;
    queueMicrotask(() => {
      this.#admitQueued = false;
      this.#admitNow();
    });
  }

  /** Wakes every waiter to gate again (the limits or the topology changed), keeping their places. */
  wakeAll(): void {
    for (const waiter of this.#queue.values()) waiter.resolve();
  }

  #admitNow(): void {
    const full = new Set<string>();
    for (const [signal, waiter] of this.#queue) {
      if (waiter.resting) continue;
      const group = this.#o.groupOf(waiter.host);
      if (full.has(group)) continue;
      const fit = this.#o.fits(waiter.host);
      if (fit === "fleet") return; // nobody after it fits either
      if (fit === "group") {
        full.add(group);
        continue;
      }
      this.#queue.delete(signal);
      this.#reserved.set(signal, waiter.host);
      this.#o.reserve(waiter.host, true);
      waiter.resolve();
    }
  }

  /** Resolves within `ms`, shared by every caller asking for the same `ms` meanwhile. */
  #tick(ms: number): Promise<void> {
    let tick = this.#ticks.get(ms);
    if (tick === undefined) {
      const { promise, resolve } = Promise.withResolvers<void>();
      const timer = setTimeout(() => {
        this.#ticks.delete(ms);
        resolve();
      }, ms);
      tick = { promise, resolve, timer };
      this.#ticks.set(ms, tick);
    }
    return tick.promise;
  }

  /** Ends the ticks (every waiter resolves: it gates again and sees the shutdown). */
  [Symbol.dispose](): void {
    for (const tick of this.#ticks.values()) {
      clearTimeout(tick.timer);
      tick.resolve();
    }
    this.#ticks.clear();
  }

  #unreserve(signal: AbortSignal): void {
    const host = this.#reserved.get(signal);
    if (host === undefined) return;
    this.#reserved.delete(signal);
    this.#o.reserve(host, false);
  }
}
