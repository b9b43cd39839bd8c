/**
 * The data and plug points of a restart's life: what {@linkcode Restarts}
 * needs (its options), what it reports (hooks, views for the status page).
 * @module
 */
import type { Semaphore } from "../async/mod.ts";
import type { Clock } from "../clock.ts";
import type { Config } from "../config/mod.ts";
import type { Phase } from "../contract/messages.ts";
import type { ExecuteOutcome } from "../executors/types.ts";
import type { ExecutorEntry } from "../executors/registry.ts";
import type { FleetView } from "../fleet/fleet_view.ts";
import type { EventSink } from "../pipeline/events.ts";
import type { SkipCode } from "../pipeline/policy.ts";
import type { Store } from "../store/mod.ts";
import type { Breaker } from "./breaker.ts";
import type { UnavailabilityBudget } from "./budget.ts";
import type { RestartLedger } from "./ledger.ts";
import type { Topology } from "./topology.ts";

/** What comes with each phase reported to {@linkcode RestartHooks.onPhase}. */
export interface PhaseInfo {
  /** The host the request is for. */
  host: string;
  /** Config name of the executor, once one was chosen. */
  executor?: string;
  /** The event's detail; for `skipped`, the gate's reason. */
  detail?: string;
  /** The executor's outcome, on phases that ended an execution. */
  outcome?: ExecuteOutcome;
  /** How long the execution took, retries included, ms. */
  durationMs?: number;
  /** For `skipped`: why, as a fixed code. */
  skipCode?: SkipCode;
}

/** What a restart's owner reports as it goes (metrics, the service's error net). */
export interface RestartHooks {
  /** Every terminal or started phase. */
  onPhase?(phase: Phase, info: PhaseInfo): void;
  /** A host came back, `ms` after its restart started. */
  onRecovered?(ms: number): void;
  /** A start that could not be committed, or a failed group commit: the service stops. */
  onFatal?(err: unknown): void;
}

/** Where a restart stands, once started, until its host is back. */
export type LifePhase = "restarting" | "coming_back" | "not_back";

/** A restart in its life, for `/debug/tasks` and the status page. */
export interface LiveRestart {
  id: string;
  host: string;
  executor: string;
  phase: LifePhase;
  /** When the restart started, ms. */
  startedAt: number;
  /** When it entered `phase`, ms. */
  since: number;
  requestedBy?: string;
  reason?: string;
}

/** A restart that ended, for the status page's recent list. */
export interface FinishedRestart {
  id: string;
  host: string;
  outcome: "succeeded" | "failed" | "interrupted";
  detail: string;
  startedAt: number;
  durationMs: number;
  /** How long the host took to come back, once it did. */
  recoveryMs?: number;
  /** The host did not come back (yet). */
  notBack?: boolean;
  requestedBy?: string;
  reason?: string;
}

/** Options of `Restarts`. */
export interface RestartsOptions {
  store: Store;
  events: EventSink;
  clock: Clock;
  /** The executors in force. */
  executors: { get(name: string): ExecutorEntry | undefined };
  /** The hosts in force (to resume the recovery of hosts after a restart of mandrill). */
  topology: () => Topology;
  /** The live config: `policy.retry` and `recovery`. */
  config: () => Pick<Config, "policy" | "recovery">;
  /** Agents' boot ids, read just before a restart. */
  fleet: FleetView;
  budget: UnavailabilityBudget;
  ledger: RestartLedger;
  breaker: Breaker;
  /** Bounds probe and health-check processes (`recovery.maxProbes`). */
  probes: Semaphore;
  hooks?: RestartHooks;
}
