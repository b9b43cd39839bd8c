/**
 * The policy gate on a row: the facts read live, then {@linkcode decide}.
 * @module
 */
import type { InboxRow, SharedFacts } from "../store/mod.ts";
import type { DispatcherOptions, HostTarget } from "./dispatch_types.ts";
import { decide, type GateDecision, type WaitCode } from "./policy.ts";

/**
 * The policy gate for `row` on this instance's facts, or, with `shared`, on
 * the fleet's (every instance's outages, restarts and last restart of the
 * host, read inside a shared store's start transaction). The budget is asked
 * only when everything else allows.
 */
export function gateRow(
  row: InboxRow,
  o: Pick<DispatcherOptions, "facts" | "policy" | "clock">,
  shared?: SharedFacts,
): { decision: GateDecision; target?: HostTarget } {
  const facts = o.facts;
  const now = o.clock.now();
  const target = facts.target(row.host);
  const local = facts.lastRestartAt(row.host);
  const lastRestartAt = shared?.lastRestartAt === undefined
    ? local
    : Math.max(local ?? -Infinity, shared.lastRestartAt);
  const state = {
    now,
    known: target !== undefined,
    busy: target !== undefined && facts.busy(row.host, shared?.outages),
    lastRestartAt,
    restartsLastHour: shared?.restartsLastHour ?? facts.restartsLastHour(now),
    uptimeSec: facts.uptimeSec(row.host),
    paused: facts.paused(),
    outsideWindow: target === undefined ? undefined : facts.outsideWindow(row.request, target),
    overBudget: undefined as { code: WaitCode; reason: string } | undefined,
  };
  let decision = decide(row.request, o.policy(), state);
  if (decision.kind === "allow") {
    const budget = facts.budget(row.host, shared?.outages);
    if (!budget.ok) {
      state.overBudget = budget;
      decision = decide(row.request, o.policy(), state);
    }
  }
  return { decision, target };
}
