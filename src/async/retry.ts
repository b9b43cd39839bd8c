/**
 * Retry an async operation with capped exponential backoff and jitter.
 * @module
 */

import { _abortable } from "./_abortable.ts";
import { _backoffDelay, _resolveBackoffOptions, type BackoffOptions } from "./backoff.ts";
import { delay } from "./delay.ts";

/** Thrown by {@linkcode retry} when every attempt failed; `cause` is the last error. */
export class RetryError extends Error {
  /** Always `"RetryError"`. */
  override name = "RetryError";
  /** How many attempts were made. */
  readonly attempts: number;

  /** Creates the error for `attempts` failed attempts, the last one failing with `cause`. */
  constructor(cause: unknown, attempts: number) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`Gave up after ${attempts} attempts: ${detail}`, { cause });
    this.attempts = attempts;
  }
}

/** Options for {@linkcode retry}; the backoff fields are those of `backoffDelay`. */
export interface RetryOptions extends BackoffOptions {
  /** Total calls of `fn`, the first included; an integer >= 1 or `Infinity`. Default: `5`. */
  attempts?: number;
  /**
   * Aborting it stops at once: the pending call or sleep is abandoned and
   * `retry` rejects with `signal.reason`. Also handed to `fn`. Default: none.
   */
  signal?: AbortSignal;
  /**
   * Whether the error of attempt `attempt` (1-based) is worth another try;
   * when it returns `false` that error is thrown as is. Default: always `true`.
   */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Called before sleeping `delayMs` after failed attempt `attempt`, e.g. to log. Default: none. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Calls `fn` until it fulfils, sleeping `backoffDelay(attempt, options)`
 * between failures. `fn` gets the 1-based attempt number and a signal to
 * honour (the caller's, or one that never aborts).
 *
 * Rejects with a {@linkcode RetryError} (cause = last error) once `attempts`
 * calls failed, with the error itself when `shouldRetry` declines it, and with
 * `signal.reason` when the signal aborts, even if `fn` ignores the signal.
 *
 * @example
 * ```ts
 * const status = await retry((attempt, signal) => fetchStatus(host, { signal }), {
 *   attempts: 3,
 *   signal,
 *   onRetry: (err, attempt, ms) => log.warn(`attempt ${attempt} failed, retrying in ${ms} ms`),
 * });
 * ```
 */
export async function retry<T>(
  fn: (attempt: number, signal: AbortSignal) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const { attempts = 5, signal, shouldRetry = () => true, onRetry } = options;
  signal?.throwIfAborted();
  if (!(attempts >= 1 && (Number.isInteger(attempts) || attempts === Infinity))) {
    throw new RangeError(`Invalid retry: attempts must be an integer >= 1, got ${attempts}`);
  }
  const backoff = _resolveBackoffOptions(options);
  const fnSignal = signal ?? new AbortController().signal;
  for (let attempt = 1;; attempt++) {
    try {
      // The executor turns a synchronous throw from `fn` into a failed attempt.
      return await _abortable(new Promise<T>((resolve) => resolve(fn(attempt, fnSignal))), signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!shouldRetry(error, attempt)) throw error;
      if (attempt >= attempts) throw new RetryError(error, attempt);
      const delayMs = _backoffDelay(attempt, backoff);
      onRetry?.(error, attempt, delayMs);
      await delay(delayMs, { signal });
    }
  }
}
