/**
 * The unavailability budget: which hosts are down and why, fleet-wide and per
 * group, and whether one more restart keeps both counts within
 * `policy.maxUnavailable` and `policy.maxUnavailablePerGroup`.
 *
 * A host is unavailable while mandrill restarts it, while it is coming back,
 * after it did not come back (until it is seen back) — these three are held by
 * the restart's owner through {@linkcode UnavailabilityBudget.hold} — and while
 * its agent is offline or its heartbeat is older than its executor's
 * `staleSec`, whether or not mandrill restarted it (read from the fleet view).
 * @module
 */
import type { Clock } from "../clock.ts";
import { budgetLimit } from "../config/fields.ts";
import type { FleetView } from "../fleet/fleet_view.ts";
import { errorMessage, log } from "../log.ts";
import type { OutageRow } from "../store/mod.ts";
import type { Topology } from "./topology.ts";
import {
  type BudgetCheck,
  groupName,
  listDown,
  refusal,
  type Unavailability,
} from "./budget_text.ts";
import { Turns } from "./turns.ts";
import { AgentLiveness } from "./agent_liveness.ts";

export { type BudgetCheck, type Unavailability, UNAVAILABILITY_TEXT } from "./budget_text.ts";

/** The budget limits, as in the config's `policy`. */
export interface BudgetLimits {
  maxUnavailable: number;
  maxUnavailablePerGroup: number | string;
}

/** One group's use of its budget, for the status page. */
export interface GroupUsage {
  /** Group name, or the host name for a host without a group. */
  group: string;
  /** Hosts in the group. */
  size: number;
  /** Most allowed down at once. */
  limit: number;
  /** The group's unavailable hosts with why. */
  down: { host: string; state: Unavailability }[];
}

/** Options of {@linkcode UnavailabilityBudget}. */
export interface UnavailabilityBudgetOptions {
  /** Groups and agent hosts, read live (a reload changes them; call `invalidate()`). Required. */
  topology: () => Topology;
  /** Where agents' liveness comes from. Required. */
  fleet: FleetView;
  /** Time source for staleness. Required. */
  clock: Clock;
  /** The limits, read live on each check. Required. */
  limits: () => BudgetLimits;
  /** Staleness is re-read from the fleet view at most this often, ms. Default: 1,000. */
  refreshMs?: number;
}

/** A group with nobody down (checked often: one for all). */
const _NONE_DOWN: ReadonlyMap<string, Unavailability> = new Map();

/** Who is down, and whether one more may go; see the module doc. */
export class UnavailabilityBudget implements Disposable {
  readonly #o: UnavailabilityBudgetOptions;
  /** Held by restarts. */
  readonly #held = new Map<string, Unavailability>();
  /** Held by other instances' restarts (a shared store's outages). */
  readonly #remote = new Map<string, Unavailability>();
  /** From agents: offline or stale. */
  readonly #agent: AgentLiveness;
  /** Merged (a restart's state wins), fleet-wide and by group key. */
  readonly #all = new Map<string, Unavailability>();
  readonly #byGroup = new Map<string, Map<string, Unavailability>>();
  readonly #listeners = new Set<() => void>();
  /** Reserved for a request whose turn came, until it starts or leaves (counted as restarting). */
  readonly #reserved = new Set<string>();
  readonly #turns: Turns;
  #notifyQueued = false;

  /** Listens to the fleet view's online changes at once; dispose to stop. */
  constructor(options: UnavailabilityBudgetOptions) {
    this.#o = options;
    this.#turns = new Turns({
      fits: (host) => {
        const check = this.check(host);
        return check.ok ? "ok" : check.code;
      },
      groupOf: (host) => this.#o.topology().groupOf(host),
      reserve: (host, reserved) => {
        if (reserved) this.#reserved.add(host);
        else this.#reserved.delete(host);
        this.#reindex(host);
      },
    });
    this.#agent = new AgentLiveness({
      ...options,
      refreshMs: options.refreshMs ?? 1_000,
      onChange: (host) => this.#reindex(host),
    });
  }

  /** Marks `host` unavailable because of a restart (`restarting`, `coming_back`, `not_back`). */
  hold(host: string, state: "restarting" | "coming_back" | "not_back"): void {
    if (this.#held.get(host) === state) return;
    this.#held.set(host, state);
    this.#reindex(host);
  }

  /** The restart no longer holds `host` (it is back, or the restart failed before anything happened). */
  release(host: string): void {
    if (!this.#held.delete(host)) return;
    this.#reindex(host);
  }

  /**
   * The hosts other instances' restarts hold (a shared store's outages, read
   * periodically): they count like this instance's own. Replaces the last set.
   * Hosts this instance holds itself are its own business and skipped.
   */
  setRemote(outages: readonly OutageRow[]): void {
    const next = new Map<string, Unavailability>();
    for (const o of outages) if (!this.#held.has(o.host)) next.set(o.host, o.state);
    const hosts = new Set([...this.#remote.keys(), ...next.keys()]);
    this.#remote.clear();
    for (const [host, state] of next) this.#remote.set(host, state);
    for (const host of hosts) this.#reindex(host);
  }

  /** What a restart holds `host` in, if anything. */
  heldState(host: string): Unavailability | undefined {
    return this.#held.get(host);
  }

  /** Why `host` is unavailable now, or undefined when it is up. */
  stateOf(host: string): Unavailability | undefined {
    this.#agent.refreshIfDue();
    return this.#all.get(host);
  }

  /** Every unavailable host with why. */
  unavailable(): ReadonlyMap<string, Unavailability> {
    this.#agent.refreshIfDue();
    return this.#all;
  }

  /**
   * Whether restarting `host` now keeps both the fleet-wide count and its
   * group's count within budget (a host already down adds nothing). When it
   * does not, the reason names the group (or the fleet) and what is down.
   * With `outages` (a shared store's, inside a start's transaction), the
   * restarts counted are those — every instance's — instead of this one's.
   */
  check(host: string, outages?: readonly OutageRow[]): BudgetCheck {
    this.#agent.refreshIfDue();
    const limits = this.#o.limits();
    const topology = this.#o.topology();
    const group = topology.groupOf(host);
    const all = outages === undefined ? this.#all : this.#mergedWith(outages);
    const down = outages === undefined
      ? this.#byGroup.get(group) ?? _NONE_DOWN
      : new Map([...all].filter(([h]) => topology.groupOf(h) === group));
    const inGroup = down.size + (down.has(host) ? 0 : 1);
    const limit = budgetLimit(limits.maxUnavailablePerGroup, topology.sizeOf(group));
    if (inGroup > limit) {
      return refusal(
        "group",
        () => `${groupName(group)}: ${listDown(down)} (${down.size} of ${limit} allowed down)`,
      );
    }
    const total = all.size + (all.has(host) ? 0 : 1);
    if (total > limits.maxUnavailable) {
      return refusal(
        "fleet",
        () =>
          `fleet: ${listDown(all)} (${all.size} of maxUnavailable ${limits.maxUnavailable} down)`,
      );
    }
    return { ok: true };
  }

  /** The agents' view merged with `outages` (a restart's state wins). */
  #mergedWith(outages: readonly OutageRow[]): Map<string, Unavailability> {
    const merged = new Map<string, Unavailability>(this.#agent.entries());
    for (const host of this.#reserved) merged.set(host, "restarting");
    for (const o of outages) merged.set(o.host, o.state);
    return merged;
  }

  /** Each group with unavailable hosts, or every group of `groups`, with its budget. */
  usage(groups?: Iterable<string>): GroupUsage[] {
    this.#agent.refreshIfDue();
    const topology = this.#o.topology();
    const keys = new Set(groups ?? this.#byGroup.keys());
    const limits = this.#o.limits();
    return [...keys].map((group) => {
      const size = topology.sizeOf(group);
      const down = [...(this.#byGroup.get(group) ?? new Map()).entries()]
        .map(([host, state]) => ({ host, state }));
      return {
        group: groupName(group, false),
        size,
        limit: budgetLimit(limits.maxUnavailablePerGroup, size),
        down,
      };
    });
  }

  /**
   * Waits for a turn to restart `host` (see {@linkcode Turns}): resolves when
   * a slot freed and this request is the first waiting that fits (its host is
   * then reserved for it), after `timeoutMs`, or when `signal` aborts —
   * whichever is first. Never rejects: the caller gates again either way, and
   * waits again with the same `signal` (keeping its place) or calls
   * {@linkcode leave}. With `rest`, it is not admitted before it waits again
   * (it waits for something other than this budget: another instance's
   * restarts, the store).
   */
  wait(
    host: string,
    options: { signal: AbortSignal; timeoutMs: number; rest?: boolean },
  ): Promise<void> {
    return this.#turns.wait(host, options);
  }

  /** `signal`'s request no longer waits: it started (call after the start holds the host), was skipped, or gave up. */
  leave(signal: AbortSignal): void {
    this.#turns.leave(signal);
  }

  /** Requests waiting for a turn. */
  get waiting(): number {
    return this.#turns.waiting;
  }

  /** Calls `listener` (soon, once per turn) after changes. Dispose to stop. */
  onChange(listener: () => void): Disposable {
    this.#listeners.add(listener);
    return { [Symbol.dispose]: () => this.#listeners.delete(listener) };
  }

  /** The topology or limits changed (config reload): re-read everything now. */
  invalidate(): void {
    this.#all.clear();
    this.#byGroup.clear();
    for (const host of this.#held.keys()) this.#reindex(host);
    for (const host of this.#remote.keys()) this.#reindex(host);
    for (const host of this.#reserved) this.#reindex(host);
    this.#agent.reset(); // reports each host down again
    this.#notify();
    this.#turns.wakeAll();
    this.#turns.admit();
  }

  [Symbol.dispose](): void {
    this.#agent[Symbol.dispose]();
    this.#listeners.clear();
    this.#turns[Symbol.dispose]();
  }

  /** Brings the merged views of `host` up to date. */
  #reindex(host: string): void {
    const state = this.#held.get(host) ?? (this.#reserved.has(host) ? "restarting" : undefined) ??
      this.#remote.get(host) ?? this.#agent.get(host);
    const before = this.#all.get(host);
    if (before === state) return;
    // A host that became available again frees a slot: the first waiter that fits gets it.
    if (state === undefined) this.#turns.admit();
    const group = this.#o.topology().groupOf(host);
    let members = this.#byGroup.get(group);
    if (state === undefined) {
      this.#all.delete(host);
      members?.delete(host);
      if (members?.size === 0) this.#byGroup.delete(group);
    } else {
      this.#all.set(host, state);
      if (members === undefined) this.#byGroup.set(group, members = new Map());
      members.set(host, state);
    }
    this.#notify();
  }

  #notify(): void {
    if (this.#notifyQueued || this.#listeners.size === 0) return;
    this.#notifyQueued = true;
    queueMicrotask(() => {
      this.#notifyQueued = false;
      for (const listener of this.#listeners) {
        try {
          listener();
        } catch (err) {
          log("budget").error("Budget listener failed: {error}", { error: errorMessage(err) });
        }
      }
    });
  }
}
