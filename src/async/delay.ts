/**
 * An abortable sleep.
 * @module
 */

/** The largest delay a timer can hold (2^31 - 1 ms, about 24.8 days). */
export const MAX_DELAY_MS = 2_147_483_647;

/** Options for {@linkcode delay}. */
export interface DelayOptions {
  /** Aborting it rejects the delay with `signal.reason` and clears the timer. Default: none. */
  signal?: AbortSignal;
}

/**
 * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as
 * the signal aborts (the timer is cleared, so nothing is left pending).
 *
 * Rejects with a `RangeError` if `ms` is not a number in `[0, MAX_DELAY_MS]`:
 * larger values would silently fire after 1 ms.
 *
 * @example
 * ```ts
 * await delay(500, { signal: AbortSignal.timeout(10_000) });
 * ```
 */
export function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (!(ms >= 0 && ms <= MAX_DELAY_MS)) {
    return Promise.reject(
      new RangeError(`Cannot delay for ${ms} ms: expected a number in [0, ${MAX_DELAY_MS}]`),
    );
  }
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
