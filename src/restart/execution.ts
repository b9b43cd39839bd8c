/**
 * A restart's execution: first, where recovery needs it, the host's boot id
 * (a probe in the shared pool, with its own short limit taken out of the
 * executor's), then the executor with retries per `policy.retry`; and what
 * its outcome leaves to watch.
 * @module
 */
import { executeWithRetry } from "./attempts.ts";
import type { ExecuteOutcome, ExecuteRequest } from "../executors/types.ts";
import type { ExecutorEntry } from "../executors/registry.ts";
import { errorMessage, log } from "../log.ts";
import type { InboxRow } from "../store/mod.ts";
import type { ProbeOutcome } from "./recovery_types.ts";
import type { RestartsOptions } from "./restart_types.ts";
import type { HostTarget } from "./topology.ts";

/** What an execution needs of the restarts' options. */
export type ExecutionOptions = Pick<RestartsOptions, "clock" | "config" | "fleet" | "probes">;

/** The executor's run, with the boot id read first where recovery needs it. */
export async function executeRestart(
  o: ExecutionOptions,
  row: InboxRow,
  target: HostTarget,
  entry: ExecutorEntry | undefined,
  signal: AbortSignal,
): Promise<{ outcome: ExecuteOutcome; bootIdBefore?: string }> {
  if (entry === undefined) {
    return {
      outcome: { kind: "rejected", detail: `executor ${target.executor} is not configured` },
    };
  }
  const req: ExecuteRequest = {
    id: row.id,
    host: row.host,
    address: target.address,
    port: target.port,
    reason: row.request.reason,
  };
  let bootIdBefore = entry.type === "agent" ? o.fleet.get(row.host)?.bootId : undefined;
  if (entry.recovery === "boot" && entry.probe !== undefined) {
    // Its own short limit — waiting for a probe slot included — taken out
    // of the executor's: never stretches timeoutSec, never eats all of it.
    const limitMs = entry.timeoutSec * 1000;
    const probeMs = Math.min(o.config().recovery.probeTimeoutSec * 1000, limitMs / 2);
    const t0 = o.clock.now();
    const r = await _probe(o, entry, req, signal, { priority: true, withinMs: probeMs });
    if (r.kind === "ok") bootIdBefore = r.bootId;
    else {
      log("recovery").warn("Cannot read the boot id of {host} before restarting: {detail}", {
        host: row.host,
        detail: r.detail,
      });
    }
    req.timeoutMs = Math.max(1, limitMs - (o.clock.now() - t0));
  }
  const retry = o.config().policy.retry;
  const outcome = await executeWithRetry(entry.executor, req, { ...retry, signal });
  return { outcome, bootIdBefore };
}

/** One probe in the shared pool; with `withinMs`, the wait for a slot and the probe together. */
async function _probe(
  o: ExecutionOptions,
  entry: ExecutorEntry,
  req: ExecuteRequest,
  signal: AbortSignal,
  options: { priority?: boolean; withinMs?: number } = {},
): Promise<ProbeOutcome> {
  const { priority = false, withinMs } = options;
  const t0 = o.clock.now();
  const waiting = withinMs === undefined
    ? signal
    : AbortSignal.any([signal, AbortSignal.timeout(withinMs)]);
  let permit: Disposable;
  try {
    permit = await o.probes.acquire({ signal: waiting, priority });
  } catch (err) {
    if (signal.aborted) return { kind: "failed", detail: errorMessage(err) };
    return {
      kind: "failed",
      detail:
        `no probe slot within ${withinMs} ms (recovery.maxProbes ${o.config().recovery.maxProbes} busy)`,
    };
  }
  try {
    const left = withinMs === undefined
      ? req.timeoutMs
      : Math.max(1, withinMs - (o.clock.now() - t0));
    const r = await entry.probe!({ ...req, timeoutMs: left }, signal);
    return r.kind === "ok" ? r : { kind: "failed", detail: `${r.kind}: ${r.detail}` };
  } catch (err) {
    return { kind: "failed", detail: errorMessage(err) };
  } finally {
    permit[Symbol.dispose]();
  }
}

/**
 * What to watch after an execution: `back`, a success whose host must be
 * seen back (recovery `boot`, or a health check); `unknown`, an outcome that
 * leaves the host's state unknown (a timeout, an abort: it may be rebooting);
 * undefined: nothing (the host is available again).
 */
export function watchAfter(
  outcome: ExecuteOutcome,
  entry: ExecutorEntry | undefined,
): "back" | "unknown" | undefined {
  if (entry === undefined) return undefined;
  const watchable = entry.recovery === "boot" || entry.healthCheck !== undefined;
  if (outcome.kind === "ok") return watchable ? "back" : undefined;
  const unknown = outcome.kind === "timeout" || outcome.kind === "aborted";
  const canSee = entry.type === "agent" || entry.probe !== undefined ||
    entry.healthCheck !== undefined;
  return unknown && canSee ? "unknown" : undefined;
}
