/**
 * Which agent hosts are down by their agents' word: offline (last will or
 * `offline` status, at once) or stale (no heartbeat for longer than their
 * executor's `staleSec`, re-read at most every `refreshMs`), whether or not
 * mandrill restarted them. A part of the unavailability budget.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { FleetView } from "../fleet/fleet_view.ts";
import type { Unavailability } from "./budget_text.ts";
import type { Topology } from "./topology.ts";

/** Options of {@linkcode AgentLiveness}. */
export interface AgentLivenessOptions {
  /** Agent hosts and their `staleSec`, read live. Required. */
  topology: () => Topology;
  /** Where heartbeats and statuses land. Required. */
  fleet: FleetView;
  /** Time source for staleness. Required. */
  clock: Clock;
  /** Staleness is re-read at most this often, ms. Required. */
  refreshMs: number;
  /** Called with a host whose state changed. Required. */
  onChange: (host: string) => void;
}

/** Agent hosts that are offline or stale; see the module doc. */
export class AgentLiveness implements Disposable {
  readonly #o: AgentLivenessOptions;
  readonly #down = new Map<string, Unavailability>();
  readonly #subscription: Disposable;
  #refreshedAt = -Infinity;

  /** Listens to the fleet view's online changes at once; dispose to stop. */
  constructor(options: AgentLivenessOptions) {
    this.#o = options;
    this.#subscription = options.fleet.onOnlineChange((host, online) => {
      if (this.#o.topology().agentStaleSec(host) === undefined) return;
      this.#set(host, online ? this.#stateOf(host, this.#o.clock.now()) : "offline");
    });
  }

  /** Why the agent of `host` says it is down, if it does (as of the last refresh). */
  get(host: string): Unavailability | undefined {
    return this.#down.get(host);
  }

  /** Every agent host that is down with why. */
  entries(): Iterable<[string, Unavailability]> {
    return this.#down.entries();
  }

  /** Re-reads every agent host's staleness if the last read is older than `refreshMs`. */
  refreshIfDue(): void {
    const now = this.#o.clock.now();
    if (now - this.#refreshedAt < this.#o.refreshMs) return;
    this.#refreshedAt = now;
    const seen = new Set<string>();
    for (const host of this.#o.topology().agentHosts()) {
      seen.add(host);
      this.#set(host, this.#stateOf(host, now));
    }
    for (const host of [...this.#down.keys()]) {
      if (!seen.has(host)) this.#set(host, undefined);
    }
  }

  /** Forgets everything (the topology changed) and reads it all again, without reporting what it forgot. */
  reset(): void {
    this.#down.clear();
    this.#refreshedAt = -Infinity;
    this.refreshIfDue();
  }

  [Symbol.dispose](): void {
    this.#subscription[Symbol.dispose]();
  }

  #stateOf(host: string, now: number): Unavailability | undefined {
    const staleSec = this.#o.topology().agentStaleSec(host);
    if (staleSec === undefined) return undefined;
    const known = this.#o.fleet.get(host);
    if (known !== undefined && !known.online) return "offline";
    return this.#o.fleet.isStale(host, staleSec, now) ? "stale" : undefined;
  }

  #set(host: string, state: Unavailability | undefined): void {
    if (this.#down.get(host) === state) return;
    if (state === undefined) this.#down.delete(host);
    else this.#down.set(host, state);
    this.#o.onChange(host);
  }
}
