/**
 * Event-loop lag monitor: Deno's answer to asyncio's slow-callback warning.
 * A timer asks to fire every `intervalMs`; how late it actually fires is how
 * long something kept the event loop busy (blocking code, a huge JSON parse,
 * a synchronous SQLite query). A stall above `slowMs` is logged at warning
 * level and reported; the recent worst lag feeds the metrics gauge.
 * @module
 */
import { errorMessage, log } from "../log.ts";

/** Options of {@linkcode LagMonitor}. */
export interface LagMonitorOptions {
  /** How often the timer asks to fire, ms. Default: 50. */
  intervalMs?: number;
  /**
   * Lag above which a stall is logged and reported, ms. Default: 100. A block
   * of B ms shows as a lag between B − `intervalMs` and B.
   */
  slowMs?: number;
  /** `lagSeconds` is the worst lag over the last one to two windows of this length, ms. Default: 10_000. */
  windowMs?: number;
  /** Called with the lag (ms, rounded) of each stall above `slowMs`. Default: none. */
  onStall?: (ms: number) => void;
  /** Monotonic time source in ms. Default: `performance.now()`. */
  now?: () => number;
  /** Stops the monitor when aborted. Default: runs until disposed. */
  signal?: AbortSignal;
}

/**
 * Measures event-loop lag with a self-rescheduling timer. The timer is unref'd,
 * so the monitor never keeps the process alive.
 * @example
 * ```ts
 * using lag = new LagMonitor({ slowMs: 100 }).start();
 * metrics.bindSources({ eventLoopLagSeconds: () => lag.lagSeconds });
 * ```
 */
export class LagMonitor implements Disposable {
  readonly #intervalMs: number;
  readonly #slowMs: number;
  readonly #windowMs: number;
  readonly #onStall: ((ms: number) => void) | undefined;
  readonly #now: () => number;
  readonly #signal: AbortSignal | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due = 0;
  #ticks = 0;
  #stalls = 0;
  #lastMs = 0;
  #windowStart = 0;
  #windowMax = 0;
  #previousMax = 0;
  readonly #onAbort = () => this.stop();

  /** Builds a stopped monitor; call {@linkcode start}. */
  constructor(options: LagMonitorOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 50;
    this.#slowMs = options.slowMs ?? 100;
    this.#windowMs = options.windowMs ?? 10_000;
    if (!(this.#intervalMs > 0)) throw new RangeError("intervalMs must be above 0");
    if (!(this.#slowMs >= 0)) throw new RangeError("slowMs must be 0 or above");
    if (!(this.#windowMs > 0)) throw new RangeError("windowMs must be above 0");
    this.#onStall = options.onStall;
    this.#now = options.now ?? (() => performance.now());
    this.#signal = options.signal;
  }

  /** Starts measuring. Idempotent; does nothing if the signal already aborted. Returns `this`. */
  start(): this {
    if (this.#timer !== undefined || this.#signal?.aborted) return this;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#windowStart = this.#now();
    this.#schedule();
    return this;
  }

  /** Stops measuring and clears the timer. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }

  /** True between {@linkcode start} and {@linkcode stop}. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Timer firings observed so far. */
  get ticks(): number {
    return this.#ticks;
  }

  /** Stalls above `slowMs` reported so far. */
  get stalls(): number {
    return this.#stalls;
  }

  /** Lag of the latest firing, ms. */
  get lastLagMs(): number {
    return this.#lastMs;
  }

  /** The worst lag over the recent window, in seconds (for `mandrill_event_loop_lag_seconds`). */
  get lagSeconds(): number {
    this.#rotate(this.#now());
    return Math.max(this.#windowMax, this.#previousMax) / 1000;
  }

  /** Stops the monitor. */
  [Symbol.dispose](): void {
    this.stop();
  }

  #schedule(): void {
    this.#due = this.#now() + this.#intervalMs;
    const timer = setTimeout(() => this.#tick(), this.#intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #tick(): void {
    const now = this.#now();
    const lag = Math.max(0, now - this.#due);
    this.#ticks++;
    this.#lastMs = lag;
    this.#rotate(now);
    this.#windowMax = Math.max(this.#windowMax, lag);
    this.#schedule();
    if (lag > this.#slowMs) {
      const ms = Math.round(lag);
      this.#stalls++;
      log("debug").warn("Event loop blocked for {ms} ms", { ms });
      try {
        this.#onStall?.(ms);
      } catch (err) {
        log("debug").error("onStall callback failed: {error}", { error: errorMessage(err) });
      }
    }
  }

  /** Two tumbling windows: the current one and the one before it. */
  #rotate(now: number): void {
    const elapsed = now - this.#windowStart;
    if (elapsed < this.#windowMs) return;
    this.#previousMax = elapsed < 2 * this.#windowMs ? this.#windowMax : 0;
    this.#windowMax = 0;
    this.#windowStart = now;
  }
}
