/**
 * The executor plug point: how one host gets restarted.
 * @module
 */

/** What an executor is asked to do. */
export interface ExecuteRequest {
  /** Message id of the request. */
  id: string;
  /** Validated RFC 1123 host name. */
  host: string;
  /** Address to connect to (from config), defaults to the host name. */
  address?: string;
  /** Port to connect to (ssh), overriding the executor's. */
  port?: number;
  reason?: string;
  /**
   * Time limit of this request in ms, when shorter than the executor's own
   * `timeoutSec` (what is left of it after the boot-id probe). Default: the
   * executor's.
   */
  timeoutMs?: number;
}

/** The time limit of `req` for an executor whose own limit is `timeoutSec`, in ms. */
export function effectiveTimeoutMs(req: ExecuteRequest, timeoutSec: number): number {
  const own = timeoutSec * 1000;
  return req.timeoutMs === undefined ? own : Math.max(1, Math.min(own, req.timeoutMs));
}

/** Every expected outcome of an executor, as a tagged union. */
export type ExecuteOutcome =
  | { kind: "ok"; detail?: string }
  | { kind: "exit"; code: number; detail: string }
  | { kind: "timeout"; detail: string }
  | { kind: "connect"; detail: string }
  | { kind: "auth"; detail: string }
  | { kind: "rejected"; detail: string }
  | { kind: "aborted"; detail: string };

/** Restarts one host. Must honour `signal` (abort kills the work) and never throw for expected failures. */
export interface Executor {
  execute(req: ExecuteRequest, signal?: AbortSignal): Promise<ExecuteOutcome>;
}

/** A one-line human description of an outcome, for events and logs. */
export function describeOutcome(o: ExecuteOutcome): string {
  return o.kind === "ok" ? (o.detail ?? "ok") : `${o.kind}: ${o.detail}`;
}
