/**
 * The async kit: abortable sleeps, deadlines, retries with backoff, task
 * groups and a keyed limiter. Every operation takes an `AbortSignal`.
 * @module
 */

export { delay, type DelayOptions, MAX_DELAY_MS } from "./delay.ts";
export { deadline, DeadlineError, type DeadlineOptions } from "./deadline.ts";
export { backoffDelay, type BackoffOptions } from "./backoff.ts";
export { retry, RetryError, type RetryOptions } from "./retry.ts";
export { type SpawnOptions, TaskGroup, type TaskGroupOptions } from "./task_group.ts";
export {
  type AcquireOptions,
  KeyedLimiter,
  type KeyedLimiterOptions,
  type Lease,
  type TryAcquireOptions,
} from "./keyed_limiter.ts";
export { type Permit, Semaphore, type SemaphoreAcquireOptions } from "./semaphore.ts";
