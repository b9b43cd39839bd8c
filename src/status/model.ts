/**
 * What the status page, `/api/status` and `mandrill status` show: the fleet
 * by group with each host's state, each group's budget, the kill switch,
 * requests waiting and in flight, and the last restarts with how long their
 * hosts took to come back. A pure function of the controller's parts.
 * @module
 */
import type { PauseState } from "../chaos/control.ts";
import { budgetLimit } from "../config/fields.ts";
import type { FleetView } from "../fleet/fleet_view.ts";
import type { InFlight } from "../pipeline/dispatch_types.ts";
import type { UnavailabilityBudget } from "../restart/budget.ts";
import type { RestartLedger } from "../restart/ledger.ts";
import type { FinishedRestart, LiveRestart } from "../restart/restart_types.ts";
import type { Topology } from "../restart/topology.ts";

/** A host's state, as the page shows it. */
export type HostState =
  | "up"
  | "restarting"
  | "coming_back"
  | "not_back"
  | "offline"
  | "stale"
  | "waiting";

/** One host of the fleet. */
export interface HostStatus {
  host: string;
  state: HostState;
  /** Its executor's config name. */
  executor: string;
  /** From its agent's latest heartbeat, s. */
  uptimeSec?: number;
  /** When it was last restarted, ms. */
  lastRestartAt?: number;
  /** How long its last restart took to come back, ms, when known. */
  lastRecoveryMs?: number;
}

/** One group and its budget. */
export interface GroupStatus {
  /** Group name; hosts without a group are listed under `(no group)`. */
  name: string;
  /** Most hosts of the group allowed down at once (for `(no group)`: 1 each). */
  limit: number;
  /** Hosts of the group down now. */
  down: number;
  hosts: HostStatus[];
}

/** The kill switch. */
export type KillSwitchStatus =
  | { paused: false }
  | {
    paused: true;
    reason?: string;
    /** Who paused it (`user@host`, or `breaker`). */
    by?: string;
    since?: number;
    /** `breaker` when the breaker engaged it, else `operator`. */
    source: "operator" | "breaker";
  };

/** The whole status: the JSON of `/api/status`. */
export interface Status {
  version: string;
  /** When this was taken, ms. */
  now: number;
  killSwitch: KillSwitchStatus;
  fleet: {
    hosts: number;
    /** Down now, fleet-wide, and the most allowed. */
    down: number;
    maxUnavailable: number;
  };
  groups: GroupStatus[];
  requests: {
    waiting: { id: string; host: string; since: number; waitingFor?: string }[];
    executing: { id: string; host: string; since: number }[];
  };
  /** Restarts started and not over: restarting, coming back, not back. */
  restarts: LiveRestart[];
  /** The last restarts that ended, newest first (at most 50). */
  recent: FinishedRestart[];
}

/** What {@linkcode buildStatus} reads. */
export interface StatusParts {
  version: string;
  now: number;
  topology: Topology;
  /** The configured hosts, in config order. */
  hosts: readonly string[];
  limits: { maxUnavailable: number; maxUnavailablePerGroup: number | string };
  fleet: FleetView;
  budget: UnavailabilityBudget;
  ledger: RestartLedger;
  paused: PauseState | undefined;
  inFlight: readonly InFlight[];
  restarts: readonly LiveRestart[];
  recent: readonly FinishedRestart[];
}

const _NO_GROUP = "(no group)";

/** The status of a running controller, from its parts. Pure. */
export function buildStatus(p: StatusParts): Status {
  const waitingHosts = new Set(
    p.inFlight.filter((f) => f.waitCode !== undefined).map((f) => f.host),
  );
  const lastRecovery = new Map<string, number>();
  for (const r of [...p.recent].reverse()) {
    if (r.recoveryMs !== undefined) lastRecovery.set(r.host, r.recoveryMs);
  }
  const down = p.budget.unavailable();
  const groups = new Map<string, GroupStatus>();
  const hostNames = new Set(p.hosts);
  for (const h of p.topology.agentHosts()) hostNames.add(h);
  for (const host of hostNames) {
    const target = p.topology.target(host);
    if (target === undefined) continue;
    const name = target.group ?? _NO_GROUP;
    let group = groups.get(name);
    if (group === undefined) {
      const size = p.topology.sizeOf(target.group ?? `host:${host}`);
      const limit = target.group === undefined
        ? 1
        : budgetLimit(p.limits.maxUnavailablePerGroup, size);
      groups.set(name, group = { name, limit, down: 0, hosts: [] });
    }
    const unavailable = down.get(host);
    if (unavailable !== undefined) group.down++;
    const entry: HostStatus = {
      host,
      state: unavailable ?? (waitingHosts.has(host) ? "waiting" : "up"),
      executor: target.executor,
    };
    const uptime = p.topology.agentStaleSec(host) === undefined
      ? undefined
      : p.fleet.uptimeOf(host, p.now);
    if (uptime !== undefined) entry.uptimeSec = Math.floor(uptime);
    const last = p.ledger.lastRestartAt(host);
    if (last !== undefined) entry.lastRestartAt = last;
    const back = lastRecovery.get(host);
    if (back !== undefined) entry.lastRecoveryMs = back;
    group.hosts.push(entry);
  }
  const paused = p.paused;
  return {
    version: p.version,
    now: p.now,
    killSwitch: paused === undefined ? { paused: false } : {
      paused: true,
      ...(paused.reason !== undefined ? { reason: paused.reason } : {}),
      ...(paused.by !== undefined ? { by: paused.by } : {}),
      ...(paused.since !== undefined ? { since: paused.since } : {}),
      source: paused.by === "breaker" ? "breaker" : "operator",
    },
    fleet: { hosts: hostNames.size, down: down.size, maxUnavailable: p.limits.maxUnavailable },
    groups: [...groups.values()].sort((a, b) =>
      a.name === _NO_GROUP ? 1 : b.name === _NO_GROUP ? -1 : a.name.localeCompare(b.name)
    ),
    requests: {
      waiting: p.inFlight.filter((f) => f.phase === "waiting").map((f) => ({
        id: f.id,
        host: f.host,
        since: f.since,
        ...(f.waitingFor !== undefined ? { waitingFor: f.waitingFor } : {}),
      })),
      executing: p.inFlight.filter((f) => f.phase === "executing").map((f) => ({
        id: f.id,
        host: f.host,
        since: f.since,
      })),
    },
    restarts: [...p.restarts],
    recent: [...p.recent],
  };
}
