/**
 * The dispatcher's plug points and data: the facts its gate reads, who it
 * hands an allowed restart to, the policy it reads live, the work it reports
 * in flight, and its options.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { RestartRequest } from "../contract/messages.ts";
import type { HostTarget } from "../restart/topology.ts";
import type { InboxRow, OutageRow, SharedFacts, StartVerdict, Store } from "../store/mod.ts";
import type { PolicySettings, SkipCode, WaitCode } from "./policy.ts";

export type { HostTarget } from "../restart/topology.ts";

/** What the gate reads about the world at the moment of decision (live, never cached). */
export interface GateFacts {
  /** How to restart `host`, or undefined when mandrill may not restart it (or has no such executor). */
  target(host: string): HostTarget | undefined;
  /** The kill switch, with its reason, when engaged. */
  paused(): { reason?: string } | undefined;
  /** Why `request` may not run now because of a time window (full reason), if so. */
  outsideWindow(request: RestartRequest, target: HostTarget): string | undefined;
  /** The host's uptime from its agent's latest heartbeat, if it has an agent and one came. */
  uptimeSec(host: string): number | undefined;
  /** The host is coming back from a restart (not yet seen back); with `outages`, as those say (every instance's). */
  busy(host: string, outages?: readonly OutageRow[]): boolean;
  /** When the host was last restarted (ms), if ever. */
  lastRestartAt(host: string): number | undefined;
  /** Restarts started in the hour before `now`, fleet-wide. */
  restartsLastHour(now: number): number;
  /**
   * Whether restarting the host now stays within the unavailability budget;
   * with `outages`, counting those (every instance's restarts) instead of this
   * instance's own.
   */
  budget(
    host: string,
    outages?: readonly OutageRow[],
  ): { ok: true } | { ok: false; code: WaitCode; reason: string };
  /**
   * Resolves when it is the request's turn to restart `host` (a slot freed and
   * it is the first waiting that fits), after `timeoutMs`, or on abort (never
   * rejects); see `UnavailabilityBudget.wait`.
   */
  budgetWait(
    host: string,
    options: { signal: AbortSignal; timeoutMs: number; rest?: boolean },
  ): Promise<void>;
  /** The request waiting with `signal` no longer waits (see `UnavailabilityBudget.leave`). */
  budgetLeave(signal: AbortSignal): void;
}

/** Who takes a request once the gate decided: the owner of a restart's life. */
export interface RestartRunner {
  /**
   * Runs an allowed restart to its end (it holds the host at once, before its
   * first await). A shared store calls `recheck` on the fleet's facts inside
   * the start's transaction; a refusal comes back as the verdict, a store
   * that cannot be reached as `unavailable` (nothing started).
   */
  run(
    row: InboxRow,
    target: HostTarget,
    signal: AbortSignal,
    recheck: (facts: SharedFacts) => StartVerdict,
  ): Promise<
    | { kind: "done" }
    | { kind: "refused"; verdict: Exclude<StartVerdict, { kind: "allow" }> }
    | { kind: "unavailable"; detail: string }
  >;
  /** Ends a request the gate skipped. */
  skip(row: InboxRow, code: SkipCode, reason: string): void;
}

/** The live policy the dispatcher reads on every decision (changes on reload). */
export interface DispatchPolicy extends PolicySettings {
  /** Longest a request waits for the budget before it is skipped, s. */
  maxWaitSec: number;
}

/** One piece of work in flight, for `/debug/tasks` and SIGUSR1. */
export interface InFlight {
  id: string;
  host: string;
  phase: "waiting" | "executing";
  since: number;
  /** While waiting for the budget: what it waits for ("group web: web-2 coming back"). */
  waitingFor?: string;
  /** While waiting: `group`, `fleet`, or `store` (a shared store unreachable): the `reason` of `mandrill_requests_waiting`. */
  waitCode?: WaitCode | "store";
}

/** Options of {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  store: Store;
  clock: Clock;
  /** What the gate reads. */
  facts: GateFacts;
  /** Who runs allowed restarts and ends skipped ones. */
  restarts: RestartRunner;
  /** The current policy (read on each decision so a reload applies live). */
  policy: () => DispatchPolicy;
  /**
   * Called with an unexpected error of one request (a bug, or a store that
   * cannot be written): the service treats it as fatal. Default: logged only.
   */
  onTaskError?: (err: unknown) => void;
  /** Rows held in memory at once (waiting or running). Default: 1024. */
  windowSize?: number;
  /** How often a waiting request looks at the budget again even without a change, ms. Default: 1,000. */
  recheckMs?: number;
}
