/**
 * Bound a promise by a time limit.
 * @module
 */

import { MAX_DELAY_MS } from "./delay.ts";

/** Thrown by {@linkcode deadline} when the time limit passes before the promise settles. */
export class DeadlineError extends Error {
  /** Always `"DeadlineError"`. */
  override name = "DeadlineError";
  /** The time limit that passed, in milliseconds. */
  readonly ms: number;

  /** Creates the error for a limit of `ms` milliseconds. */
  constructor(ms: number, options?: ErrorOptions) {
    super(`Deadline of ${ms} ms exceeded`, options);
    this.ms = ms;
  }
}

/** Options for {@linkcode deadline}. */
export interface DeadlineOptions {
  /** Aborting it rejects with `signal.reason` at once. Default: none. */
  signal?: AbortSignal;
}

/**
 * Settles like `promise`, unless `ms` milliseconds pass first (rejects with a
 * {@linkcode DeadlineError}) or the signal aborts (rejects with `signal.reason`).
 * The timer and the abort listener are removed whichever way it settles.
 *
 * It does not cancel the work behind `promise`: give that work a signal too.
 * A rejection of `promise` after the deadline is observed, never left unhandled.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * try {
 *   await deadline(restart(host, { signal: ac.signal }), 30_000);
 * } catch (err) {
 *   if (err instanceof DeadlineError) ac.abort(err);
 *   throw err;
 * }
 * ```
 */
export function deadline<T>(
  promise: PromiseLike<T>,
  ms: number,
  options: DeadlineOptions = {},
): Promise<T> {
  const { signal } = options;
  const input = Promise.resolve(promise);
  if (signal?.aborted || !(ms >= 0 && ms <= MAX_DELAY_MS)) {
    // We give up on the input: observe it so a later rejection is not unhandled.
    input.catch(() => {});
    if (signal?.aborted) return Promise.reject(signal.reason);
    return Promise.reject(
      new RangeError(
        `Cannot set a deadline of ${ms} ms: expected a number in [0, ${MAX_DELAY_MS}]`,
      ),
    );
  }
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      cleanup();
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new DeadlineError(ms));
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
    input.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error) => {
        cleanup();
        reject(error);
      },
    );
  });
}
