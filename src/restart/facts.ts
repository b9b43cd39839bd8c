/**
 * The gate's facts about the fleet, read live from the parts that hold them:
 * the topology (config), the executors, the fleet view (uptimes, agent hosts
 * only), the kill switch, chaos windows, the restart ledger and the budget.
 * @module
 */
import { isWithinWindows } from "../chaos/window.ts";
import type { Clock } from "../clock.ts";
import type { Config } from "../config/mod.ts";
import type { RestartRequest } from "../contract/messages.ts";
import type { FleetView } from "../fleet/fleet_view.ts";
import type { GateFacts } from "../pipeline/dispatch_types.ts";
import type { UnavailabilityBudget } from "./budget.ts";
import type { RestartLedger } from "./ledger.ts";
import type { HostTarget, Topology } from "./topology.ts";

/** Options of {@linkcode fleetFacts}. */
export interface FleetFactsOptions {
  topology: () => Topology;
  /** Whether an executor of that name is configured. */
  hasExecutor: (name: string) => boolean;
  fleet: FleetView;
  paused: () => { reason?: string } | undefined;
  chaos: () => Config["chaos"];
  ledger: RestartLedger;
  budget: UnavailabilityBudget;
  clock: Clock;
}

/** The {@linkcode GateFacts} of a running controller. */
export function fleetFacts(o: FleetFactsOptions): GateFacts {
  return {
    target(host) {
      const target = o.topology().target(host);
      return target !== undefined && o.hasExecutor(target.executor) ? target : undefined;
    },
    paused: () => o.paused(),
    outsideWindow(request: RestartRequest, target: HostTarget) {
      if (request.requestedBy !== "chaos" || !target.group) return undefined;
      const group = o.chaos().groups[target.group];
      if (!group) return undefined;
      const check = isWithinWindows(group, o.clock.now(), { group: target.group });
      return check.ok ? undefined : check.reason;
    },
    uptimeSec(host) {
      // Only an agent the config knows speaks for a host's uptime.
      if (o.topology().agentStaleSec(host) === undefined) return undefined;
      return o.fleet.uptimeOf(host, o.clock.now());
    },
    // Coming back: the restart is over but its host is not back yet. (A host
    // being restarted right now is not "busy": the dispatcher runs one action
    // per host at a time, so a later request waits its turn, then is gated.)
    busy: (host, outages) =>
      outages === undefined
        ? o.budget.heldState(host) === "coming_back"
        : outages.some((x) => x.host === host && x.state === "coming_back"),
    lastRestartAt: (host) => o.ledger.lastRestartAt(host),
    restartsLastHour: (now) => o.ledger.countLastHour(now),
    budget: (host, outages) => o.budget.check(host, outages),
    budgetWait: (host, options) => o.budget.wait(host, options),
    budgetLeave: (signal) => o.budget.leave(signal),
  };
}
