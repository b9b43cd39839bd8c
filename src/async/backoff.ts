/**
 * Capped exponential backoff with jitter, as a pure function.
 * @module
 */

/** Options for {@linkcode backoffDelay}; also part of `RetryOptions`. */
export interface BackoffOptions {
  /** Cap for the first retry, in ms; must be >= 0. Default: `100`. */
  minDelayMs?: number;
  /** Upper bound for any delay, in ms; must be >= `minDelayMs`. Default: `30_000`. */
  maxDelayMs?: number;
  /** Growth factor of the cap per failed attempt; must be >= 1. Default: `2`. */
  multiplier?: number;
  /**
   * Share of the cap that is randomised, in `[0, 1]`: `0` always waits the
   * full cap, `1` ("full jitter") waits anywhere in `(0, cap]`. Default: `1`.
   */
  jitter?: number;
  /** Source of randomness in `[0, 1)`; inject one in tests. Default: `Math.random`. */
  random?: () => number;
}

/** Backoff options with every default filled in and every value checked. */
export type _ResolvedBackoffOptions = Required<BackoffOptions>;

/**
 * Fills in defaults and checks every option, throwing a `RangeError` or
 * `TypeError` that names the bad one.
 */
export function _resolveBackoffOptions(options: BackoffOptions): _ResolvedBackoffOptions {
  const {
    minDelayMs = 100,
    maxDelayMs = 30_000,
    multiplier = 2,
    jitter = 1,
    random = Math.random,
  } = options;
  if (!(Number.isFinite(minDelayMs) && minDelayMs >= 0)) {
    throw new RangeError(
      `Invalid backoff: minDelayMs must be a finite number >= 0, got ${minDelayMs}`,
    );
  }
  if (!(Number.isFinite(maxDelayMs) && maxDelayMs >= minDelayMs)) {
    throw new RangeError(
      `Invalid backoff: maxDelayMs must be a finite number >= minDelayMs (${minDelayMs}), got ${maxDelayMs}`,
    );
  }
  if (!(Number.isFinite(multiplier) && multiplier >= 1)) {
    throw new RangeError(
      `Invalid backoff: multiplier must be a finite number >= 1, got ${multiplier}`,
    );
  }
  if (!(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`Invalid backoff: jitter must be in [0, 1], got ${jitter}`);
  }
  if (typeof random !== "function") {
    throw new TypeError(`Invalid backoff: random must be a function, got ${typeof random}`);
  }
  return { minDelayMs, maxDelayMs, multiplier, jitter, random };
}

/**
 * How long to wait after failed attempt number `attempt` (1-based): the cap is
 * `min(maxDelayMs, minDelayMs * multiplier ** (attempt - 1))` and the delay is
 * `cap * (1 - jitter * random())`. The result is not rounded.
 *
 * Pure apart from `random`, so callers with their own loop (such as MQTT
 * reconnects) can share the policy with `retry`.
 *
 * With the defaults and `jitter: 0`, attempts 1, 2, 3, ... wait 100, 200,
 * 400, ... ms, reaching 30 s at attempt 10.
 *
 * @example
 * ```ts
 * const ms = backoffDelay(failures, { minDelayMs: 1_000, maxDelayMs: 60_000 });
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  if (!(Number.isInteger(attempt) && attempt >= 1)) {
    throw new RangeError(`Invalid backoff attempt: expected an integer >= 1, got ${attempt}`);
  }
  return _backoffDelay(attempt, _resolveBackoffOptions(options));
}

/** {@linkcode backoffDelay} over options already resolved, for hot loops. */
export function _backoffDelay(attempt: number, options: _ResolvedBackoffOptions): number {
  const { minDelayMs, maxDelayMs, multiplier, jitter, random } = options;
  // minDelayMs 0 would give 0 * Infinity = NaN once the exponent overflows.
  const cap = minDelayMs === 0 ? 0 : Math.min(maxDelayMs, minDelayMs * multiplier ** (attempt - 1));
  const r = random();
  if (!(r >= 0 && r <= 1)) {
    throw new RangeError(`Invalid backoff: random() must return a number in [0, 1), got ${r}`);
  }
  return cap * (1 - jitter * r);
}
