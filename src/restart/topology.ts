/**
 * What the config says about each host: how to restart it, which group it is
 * in, and whether it has an agent — the config's word (or, with
 * `fleet.allowAgentHosts`, an agent's announcement), never a message's.
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { FleetView } from "../fleet/fleet_view.ts";

/** How a host is restarted, as resolved from config or the fleet. */
export interface HostTarget {
  executor: string;
  address?: string;
  port?: number;
  group?: string;
}

/** The hosts mandrill may restart, their groups and agents. */
export interface Topology {
  /** How to restart `host`, or undefined when mandrill may not restart it. */
  target(host: string): HostTarget | undefined;
  /** The budget group of `host`: its `group`, or `host:<name>` for a host without one. */
  groupOf(host: string): string;
  /** Hosts in the group `key` (a `groupOf` value). */
  sizeOf(key: string): number;
  /** The configured hosts of the group named `group` (chaos candidates). */
  hostsOfGroup(group: string): readonly string[];
  /** For a host with an agent: its executor's `staleSec`; undefined for hosts without one. */
  agentStaleSec(host: string): number | undefined;
  /** Every host with an agent (configured ones, and announced ones where allowed). */
  agentHosts(): Iterable<string>;
  /**
   * Whether `host`'s agent messages (heartbeats, statuses, results) count: it is
   * configured with an agent executor, or unconfigured where `fleet.allowAgentHosts`.
   */
  acceptsAgent(host: string): boolean;
}

const _DEFAULT_STALE_SEC = 90;

/** The topology of `config`; announced agent hosts are read from `fleet` as they come. */
export function buildTopology(config: Config, fleet: FleetView): Topology {
  const groups = new Map<string, string[]>();
  // Per executor, not per host: 100,000 agent hosts cost one array of names.
  const staleByExecutor = new Map<string, number>();
  for (const [name, e] of Object.entries(config.executors)) {
    if (e.type === "agent") staleByExecutor.set(name, e.staleSec ?? _DEFAULT_STALE_SEC);
  }
  const configured = (host: string) =>
    Object.hasOwn(config.hosts, host) ? config.hosts[host] : undefined;
  const configuredAgentHosts: string[] = [];
  for (const host in config.hosts) {
    const entry = configured(host);
    if (entry === undefined) continue;
    if (entry.group !== undefined) {
      let members = groups.get(entry.group);
      if (members === undefined) groups.set(entry.group, members = []);
      members.push(host);
    }
    if (staleByExecutor.has(entry.executor)) configuredAgentHosts.push(host);
  }
  const announced = config.fleet.allowAgentHosts ? config.fleet.agentExecutor : undefined;
  const announcedStale = announced === undefined ? undefined : staleByExecutor.get(announced);
  const isAnnounced = (host: string) =>
    announced !== undefined && !Object.hasOwn(config.hosts, host) && fleet.get(host) !== undefined;
  return {
    target(host) {
      const h = configured(host);
      if (h) return { executor: h.executor, address: h.address, port: h.port, group: h.group };
      return isAnnounced(host) ? { executor: announced! } : undefined;
    },
    groupOf(host) {
      return configured(host)?.group ?? `host:${host}`;
    },
    sizeOf(key) {
      return key.startsWith("host:") ? 1 : groups.get(key)?.length ?? 0;
    },
    hostsOfGroup(group) {
      return groups.get(group) ?? [];
    },
    agentStaleSec(host) {
      const entry = configured(host);
      if (entry !== undefined) return staleByExecutor.get(entry.executor);
      return isAnnounced(host) ? announcedStale : undefined;
    },
    acceptsAgent(host) {
      const entry = configured(host);
      if (entry !== undefined) return staleByExecutor.has(entry.executor);
      return announced !== undefined;
    },
    *agentHosts() {
      yield* configuredAgentHosts;
      if (announced === undefined) return;
      for (const host of fleet.hosts()) if (!Object.hasOwn(config.hosts, host)) yield host;
    },
  };
}
