/**
 * The dispatcher's plug points and data: how a host is restarted, the policy
 * it reads live, the work it reports in flight, and its options.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { Phase, RestartRequest } from "../contract/messages.ts";
import type { ExecuteOutcome, Executor } from "../executors/types.ts";
import type { Outcome, Store } from "../store/mod.ts";
import type { EventSink } from "./events.ts";
import type { PolicySettings, SkipCode } from "./policy.ts";

/** How a host is restarted, as resolved from config or the fleet. */
export interface HostTarget {
  executor: string;
  address?: string;
  port?: number;
  group?: string;
}

/** The live policy the dispatcher reads on every decision (changes on reload). */
export interface DispatchPolicy extends PolicySettings {
  maxConcurrent: number;
  maxConcurrentPerGroup: number;
  retry: { attempts: number; minDelayMs: number; maxDelayMs: number };
}

/** One piece of work in flight, for `/debug/tasks` and SIGUSR1. */
export interface InFlight {
  id: string;
  host: string;
  phase: "waiting" | "executing";
  since: number;
}

/** What comes with each phase reported to `onPhase`. */
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

/** Options of {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  store: Store;
  events: EventSink;
  clock: Clock;
  /** Executors by config name. */
  executors: () => ReadonlyMap<string, Executor>;
  /** Resolves a host to its target, or undefined when mandrill may not restart it. */
  resolveHost: (host: string) => HostTarget | undefined;
  /** The current policy (read on each decision so a reload applies live). */
  policy: () => DispatchPolicy;
  /** The host's uptime from its latest heartbeat, if known. Default: unknown. */
  uptimeOf?: (host: string) => number | undefined;
  /** The kill switch. Default: never paused. */
  paused?: () => { reason?: string } | undefined;
  /** A host whose recovery is still awaited counts as being restarted. Default: none. */
  awaitingRecovery?: (host: string) => boolean;
  /** Why a row may not run now because of a time window (full reason), if so. Default: never. */
  outsideWindow?: (request: RestartRequest, host: HostTarget | undefined) => string | undefined;
  /**
   * Called when a row is marked started, before its executor runs, and awaited
   * (e.g. to read the host's boot id for recovery tracking). Its errors are logged.
   */
  onStarted?: (
    info: { id: string; host: string; target: HostTarget; startedAt: number },
    signal: AbortSignal,
  ) => void | Promise<void>;
  /** Called after every executed restart with how it ended (recovery tracking starts on success). */
  onExecuted?: (
    info: { id: string; host: string; target: HostTarget; startedAt: number; outcome: Outcome },
  ) => void;
  /** Called with every terminal or started phase (metrics). */
  onPhase?: (phase: Phase, info: PhaseInfo) => void;
  /**
   * Called with an unexpected error of one request (a bug, or a store that
   * cannot be written): the service treats it as fatal. Default: logged only.
   */
  onTaskError?: (err: unknown) => void;
  /** Called when saving history fails (metrics). */
  onHistoryError?: (err: unknown) => void;
  /** Rows held in memory at once (waiting or running). Default: 1024. */
  windowSize?: number;
}
