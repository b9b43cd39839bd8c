/**
 * A restart's life, from the moment the gate allows it until its host is
 * back: the unavailability budget (who is down), the topology (what the
 * config says about each host), recovery tracking, the breaker, and the
 * owner that holds them together.
 * @module
 */
export {
  type BudgetCheck,
  type BudgetLimits,
  type GroupUsage,
  type Unavailability,
  UNAVAILABILITY_TEXT,
  UnavailabilityBudget,
  type UnavailabilityBudgetOptions,
} from "./budget.ts";
export {
  Breaker,
  type BreakerFailure,
  type BreakerOptions,
  type BreakerSettings,
} from "./breaker.ts";
export { fleetFacts, type FleetFactsOptions } from "./facts.ts";
export { RestartLedger } from "./ledger.ts";
export { Restarts } from "./lifecycle.ts";
export { RecoveryTracker, type TrackedRecovery } from "./recovery.ts";
export type * from "./recovery_types.ts";
export type * from "./restart_types.ts";
export { buildTopology, type HostTarget, type Topology } from "./topology.ts";
export { executeWithRetry, isRetryable } from "./attempts.ts";
