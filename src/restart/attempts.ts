/**
 * Running one restart with retries per `policy.retry`: outcomes that another
 * attempt may fix (non-zero exit, timeout, connection failure) are retried
 * with full-jitter backoff; the rest end it at once.
 * @module
 */
import { backoffDelay, delay } from "../async/mod.ts";
import {
  describeOutcome,
  type ExecuteOutcome,
  type ExecuteRequest,
  type Executor,
} from "../executors/types.ts";
import { errorMessage, log } from "../log.ts";

/** Options of {@linkcode executeWithRetry}. */
export interface AttemptOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Backoff before the second attempt; it doubles after, with full jitter. */
  minDelayMs: number;
  /** Longest backoff. */
  maxDelayMs: number;
  /** Aborts the attempt in progress (the executor kills its process) and any backoff. */
  signal: AbortSignal;
}

/** Outcomes another attempt may fix. */
export function isRetryable(outcome: ExecuteOutcome): boolean {
  return outcome.kind === "exit" || outcome.kind === "timeout" || outcome.kind === "connect";
}

/**
 * Executes `req`, retrying retryable outcomes. Unlike the async kit's `retry()`,
 * an abort does not return before the executor does: the executor's own abort
 * handling (killing its process group) must finish before the row is ended.
 */
export async function executeWithRetry(
  executor: Executor,
  req: ExecuteRequest,
  options: AttemptOptions,
): Promise<ExecuteOutcome> {
  const { signal } = options;
  for (let attempt = 1;; attempt++) {
    let outcome: ExecuteOutcome;
    try {
      outcome = await executor.execute(req, signal);
    } catch (err) {
      outcome = signal.aborted
        ? { kind: "aborted", detail: "shutting down" }
        : { kind: "exit", code: -1, detail: `executor threw: ${errorMessage(err)}` };
    }
    if (!isRetryable(outcome) || attempt >= options.attempts || signal.aborted) return outcome;
    const wait = backoffDelay(attempt, {
      minDelayMs: options.minDelayMs,
      maxDelayMs: options.maxDelayMs,
    });
    log("dispatcher").warn("Attempt {attempt} failed ({detail}); retrying in {wait} ms", {
      attempt,
      detail: describeOutcome(outcome),
      wait: Math.round(wait),
    });
    try {
      await delay(wait, { signal });
    } catch {
      return { kind: "aborted", detail: "shutting down during retry backoff" };
    }
  }
}
