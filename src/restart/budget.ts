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
import { Turns } from "./turns.ts";

/** Why a host is unavailable. The first three are held by mandrill's restarts. */
export type Unavailability = "restarting" | "coming_back" | "not_back" | "offline" | "stale";

/** How each {@linkcode Unavailability} reads in a sentence. */
export const UNAVAILABILITY_TEXT: Readonly<Record<Unavailability, string>> = {
  restarting: "restarting",
  coming_back: "coming back",
  not_back: "did not come back",
  offline: "offline",
  stale: "stale",
};

/** The answer of {@linkcode UnavailabilityBudget.check}. */
export type BudgetCheck =
  | { ok: true }
  | { ok: false; code: "group" | "fleet"; reason: string };

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

const _MAX_NAMED = 5;

/** Who is down, and whether one more may go; see the module doc. */
export class UnavailabilityBudget implements Disposable {
  readonly #o: UnavailabilityBudgetOptions;
  readonly #refreshMs: number;
  /** Held by restarts. */
  readonly #held = new Map<string, Unavailability>();
  /** Held by other instances' restarts (a shared store's outages). */
  readonly #remote = new Map<string, Unavailability>();
  /** From agents: offline or stale. */
  readonly #agent = new Map<string, Unavailability>();
  /** Merged (a restart's state wins), fleet-wide and by group key. */
  readonly #all = new Map<string, Unavailability>();
  readonly #byGroup = new Map<string, Map<string, Unavailability>>();
  readonly #listeners = new Set<() => void>();
  readonly #subscription: Disposable;
  #refreshedAt = -Infinity;
  readonly #ticks = new Map<
    number,
    { promise: Promise<void>; resolve: () => void; timer: ReturnType<typeof setTimeout> }
  >();
  /** Reserved for a request whose turn came, until it starts or leaves (counted as restarting). */
  readonly #reserved = new Set<string>();
  readonly #turns: Turns;
  #notifyQueued = false;

  /** Listens to the fleet view's online changes at once; dispose to stop. */
  constructor(options: UnavailabilityBudgetOptions) {
    this.#o = options;
    this.#refreshMs = options.refreshMs ?? 1_000;
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
    this.#subscription = options.fleet.onOnlineChange((host, online) => {
      if (this.#o.topology().agentStaleSec(host) === undefined) return;
      this.#setAgent(host, online ? this.#agentState(host, this.#o.clock.now()) : "offline");
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
    this.#refreshIfDue();
    return this.#all.get(host);
  }

  /** Every unavailable host with why. */
  unavailable(): ReadonlyMap<string, Unavailability> {
    this.#refreshIfDue();
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
    this.#refreshIfDue();
    const limits = this.#o.limits();
    const topology = this.#o.topology();
    const group = topology.groupOf(host);
    const all = outages === undefined ? this.#all : this.#mergedWith(outages);
    const down = outages === undefined
      ? this.#byGroup.get(group) ?? new Map<string, Unavailability>()
      : new Map([...all].filter(([h]) => topology.groupOf(h) === group));
    const inGroup = down.size + (down.has(host) ? 0 : 1);
    const limit = budgetLimit(limits.maxUnavailablePerGroup, topology.sizeOf(group));
    if (inGroup > limit) {
      return _refusal(
        "group",
        () => `${_groupName(group)}: ${_list(down)} (${down.size} of ${limit} allowed down)`,
      );
    }
    const total = all.size + (all.has(host) ? 0 : 1);
    if (total > limits.maxUnavailable) {
      return _refusal(
        "fleet",
        () => `fleet: ${_list(all)} (${all.size} of maxUnavailable ${limits.maxUnavailable} down)`,
      );
    }
    return { ok: true };
  }

  /** The agents' view merged with `outages` (a restart's state wins). */
  #mergedWith(outages: readonly OutageRow[]): Map<string, Unavailability> {
    const merged = new Map<string, Unavailability>(this.#agent);
    for (const host of this.#reserved) merged.set(host, "restarting");
    for (const o of outages) merged.set(o.host, o.state);
    return merged;
  }

  /** Each group with unavailable hosts, or every group of `groups`, with its budget. */
  usage(groups?: Iterable<string>): GroupUsage[] {
    this.#refreshIfDue();
    const topology = this.#o.topology();
    const keys = new Set(groups ?? this.#byGroup.keys());
    const limits = this.#o.limits();
    return [...keys].map((group) => {
      const size = topology.sizeOf(group);
      const down = [...(this.#byGroup.get(group) ?? new Map()).entries()]
        .map(([host, state]) => ({ host, state }));
      return {
        group: _groupName(group, false),
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
    return this.#turns.wait(host, { ...options, tick: this.#tick(options.timeoutMs) });
  }

  /** `signal`'s request no longer waits: it started (call after the start holds the host), was skipped, or gave up. */
  leave(signal: AbortSignal): void {
    this.#turns.leave(signal);
  }

  /** Requests waiting for a turn. */
  get waiting(): number {
    return this.#turns.waiting;
  }

  /** Resolves within `ms`, shared by every caller asking for the same `ms` meanwhile. */
  #tick(ms: number): Promise<void> {
    let tick = this.#ticks.get(ms);
    if (tick === undefined) {
      const { promise, resolve } = Promise.withResolvers<void>();
      const timer = setTimeout(() => {
        this.#ticks.delete(ms);
        resolve();
      }, ms);
      tick = { promise, resolve, timer };
      this.#ticks.set(ms, tick);
    }
    return tick.promise;
  }

  /** Calls `listener` (soon, once per turn) after changes. Dispose to stop. */
  onChange(listener: () => void): Disposable {
    this.#listeners.add(listener);
    return { [Symbol.dispose]: () => this.#listeners.delete(listener) };
  }

  /** The topology or limits changed (config reload): re-read everything now. */
  invalidate(): void {
    this.#agent.clear();
    this.#all.clear();
    this.#byGroup.clear();
    for (const host of this.#held.keys()) this.#reindex(host);
    for (const host of this.#remote.keys()) this.#reindex(host);
    for (const host of this.#reserved) this.#reindex(host);
    this.#refreshedAt = -Infinity;
    this.#refreshIfDue();
    this.#notify();
    this.#turns.wakeAll();
    this.#turns.admit();
  }

  [Symbol.dispose](): void {
    this.#subscription[Symbol.dispose]();
    this.#listeners.clear();
    for (const tick of this.#ticks.values()) {
      clearTimeout(tick.timer);
      tick.resolve();
    }
    this.#ticks.clear();
  }

  #agentState(host: string, now: number): Unavailability | undefined {
    const staleSec = this.#o.topology().agentStaleSec(host);
    if (staleSec === undefined) return undefined;
    const known = this.#o.fleet.get(host);
    if (known !== undefined && !known.online) return "offline";
    return this.#o.fleet.isStale(host, staleSec, now) ? "stale" : undefined;
  }

  #refreshIfDue(): void {
    const now = this.#o.clock.now();
    if (now - this.#refreshedAt < this.#refreshMs) return;
    this.#refreshedAt = now;
    const seen = new Set<string>();
    for (const host of this.#o.topology().agentHosts()) {
      seen.add(host);
      this.#setAgent(host, this.#agentState(host, now));
    }
    for (const host of [...this.#agent.keys()]) {
      if (!seen.has(host)) this.#setAgent(host, undefined);
    }
  }

  #setAgent(host: string, state: Unavailability | undefined): void {
    if (this.#agent.get(host) === state) return;
    if (state === undefined) this.#agent.delete(host);
    else this.#agent.set(host, state);
    this.#reindex(host);
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

/**
 * A refusal whose reason is written only when read (once): requests waiting
 * check again on every change, and most never show their reason.
 */
function _refusal(code: "group" | "fleet", reason: () => string): BudgetCheck {
  let text: string | undefined;
  return {
    ok: false,
    code,
    get reason() {
      return text ??= reason();
    },
  };
}

/** `group web`, or `host web-1` for a host without a group. */
function _groupName(key: string, prefixed = true): string {
  if (key.startsWith("host:")) return prefixed ? `host ${key.slice(5)}` : key.slice(5);
  return prefixed ? `group ${key}` : key;
}

/** "web-2 coming back, web-3 offline" (the first few, then how many more). */
function _list(down: ReadonlyMap<string, Unavailability>): string {
  const parts: string[] = [];
  for (const [host, state] of down) {
    if (parts.length === _MAX_NAMED) break;
    parts.push(`${host} ${UNAVAILABILITY_TEXT[state]}`);
  }
  const more = down.size - parts.length;
  return more > 0 ? `${parts.join(", ")} and ${more} more` : parts.join(", ");
}
