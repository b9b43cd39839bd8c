/**
 * The controller's fleet side: the fleet view fed by agents, agent executors
 * and their results, recovery tracking after each successful restart, the
 * kill switch and the chaos scheduler. Private to `controller.ts`.
 * @module
 */
import { ChaosScheduler, isWithinWindows, KillSwitch, routeKillSwitch } from "./chaos/mod.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config/mod.ts";
import type { RestartRequest } from "./contract/messages.ts";
import type { Topics } from "./contract/topics.ts";
import { AgentExecutor } from "./executors/agent.ts";
import { buildExecutors, type Executor, Spawner, SshExecutor } from "./executors/mod.ts";
import { FleetView, RecoveryTracker, routeFleet } from "./fleet/mod.ts";
import type { Metrics } from "./http/metrics.ts";
import { errorMessage, log } from "./log.ts";
import type { MqttConnection } from "./mqtt/connection.ts";
import type { HostTarget } from "./pipeline/dispatcher.ts";
import type { EventSink } from "./pipeline/events.ts";
import type { Store } from "./store/mod.ts";

/** What the fleet side needs from the controller. */
export interface FleetWiringOptions {
  config: () => Config;
  conn: MqttConnection;
  topics: Topics;
  store: Store;
  events: EventSink;
  clock: Clock;
  metrics?: Metrics;
  /** Aborted at shutdown: stops recovery tracking. */
  signal: AbortSignal;
}

/** The fleet side of a running controller. */
export class FleetWiring {
  readonly fleet: FleetView;
  readonly recovery: RecoveryTracker;
  readonly killSwitch: KillSwitch;
  readonly #o: FleetWiringOptions;
  #agentExecutors: AgentExecutor[] = [];
  readonly #bootIdAtStart = new Map<string, string | undefined>();
  /** Starts the children of command and ssh executors off the main thread; see {@linkcode close}. */
  readonly #spawner = new Spawner({ threads: 2 });

  /** Routes agents' messages and the control topic on the connection. */
  constructor(options: FleetWiringOptions) {
    this.#o = options;
    const { conn, topics, clock, store, events, metrics } = options;
    this.fleet = new FleetView({ maxHosts: options.config().fleet.maxHosts });
    routeFleet(conn, {
      topics,
      fleet: this.fleet,
      clock,
      onResult: (host, result) => this.#agentExecutors.forEach((e) => e.handleResult(host, result)),
    });
    this.killSwitch = new KillSwitch();
    routeKillSwitch(conn, topics, this.killSwitch);
    const recovery = options.config().recovery;
    this.recovery = new RecoveryTracker({
      fleet: this.fleet,
      clock,
      recoveryTimeoutSec: recovery.timeoutSec,
      probeIntervalSec: recovery.probeIntervalSec,
      signal: options.signal,
      onRecovered: (e) => {
        const secs = (e.recoveryMs / 1000).toFixed(1);
        _safely(() => store.historyRecovered(e.id, clock.now(), e.recoveryMs));
        events.event({
          id: e.id,
          host: e.host,
          phase: "recovered",
          detail: `back after ${secs}s`,
          ts: clock.now(),
        });
        metrics?.onRecovered(e.recoveryMs);
      },
      onTimeout: (e) => {
        _safely(() => store.historyNotBack(e.id, e.detail));
        events.event({
          id: e.id,
          host: e.host,
          phase: "failed",
          detail: e.detail,
          ts: clock.now(),
        });
        log("recovery").warn("{host} did not come back: {detail}", {
          id: e.id,
          host: e.host,
          detail: e.detail,
        });
      },
    });
  }

  /** Builds the executors of `config`, agent executors bound to this fleet. */
  buildExecutors(config: Config): Map<string, Executor> {
    const agents: AgentExecutor[] = [];
    const out = buildExecutors(config.executors, {
      agent: (c) => {
        const e = new AgentExecutor({
          conn: this.#o.conn,
          topics: this.#o.topics,
          fleet: this.fleet,
          timeoutSec: c.timeoutSec,
          staleSec: c.staleSec,
          clock: this.#o.clock,
        });
        agents.push(e);
        return e;
      },
      spawner: this.#spawner,
    });
    // Executors of a previous config still get the results of commands they sent.
    this.#agentExecutors = [...this.#agentExecutors.filter((e) => e.pending > 0), ...agents];
    return out;
  }

  /**
   * Stops the spawner's worker thread (it would keep the process alive). Call
   * last at shutdown: children still running are killed and reported aborted.
   */
  close(): void {
    this.#spawner.close();
  }

  /** Resolves a host: configured, or announced by an agent where the config allows it. */
  resolveHost(host: string): HostTarget | undefined {
    const config = this.#o.config();
    const h = config.hosts[host];
    if (h) return { executor: h.executor, address: h.address, port: h.port, group: h.group };
    if (config.fleet.allowAgentHosts && config.fleet.agentExecutor && this.fleet.get(host)) {
      return { executor: config.fleet.agentExecutor };
    }
    return undefined;
  }

  /** For chaos requests: the window reason when the host's chaos group is outside its windows now. */
  outsideWindow(request: RestartRequest, target: HostTarget | undefined): string | undefined {
    if (request.requestedBy !== "chaos" || !target?.group) return undefined;
    const group = this.#o.config().chaos.groups[target.group];
    if (!group) return undefined;
    const check = isWithinWindows(group, this.#o.clock.now(), { group: target.group });
    return check.ok ? undefined : check.reason;
  }

  /**
   * Remembers the host's boot id as a restart starts, for recovery tracking:
   * from its agent, or for SSH hosts without one, read over SSH first.
   */
  async onStarted(
    info: { id: string; host: string; target: HostTarget },
    executors: ReadonlyMap<string, Executor>,
    signal: AbortSignal,
  ): Promise<void> {
    let bootId = this.fleet.get(info.host)?.bootId;
    const executor = executors.get(info.target.executor);
    if (bootId === undefined && executor instanceof SshExecutor) {
      const r = await executor.probeBootId(_execRequest(info), signal);
      if (r.kind === "ok") bootId = r.bootId;
      else {log("recovery").warn("Cannot read the boot id of {host} before restarting: {detail}", {
          host: info.host,
          detail: r.detail,
        });}
    }
    this.#bootIdAtStart.set(info.id, bootId);
  }

  /** After a restart: on success, starts waiting for the host to come back. */
  onExecuted(
    info: { id: string; host: string; target: HostTarget; startedAt: number; outcome: string },
    executors: ReadonlyMap<string, Executor>,
  ): void {
    const bootIdBefore = this.#bootIdAtStart.get(info.id);
    this.#bootIdAtStart.delete(info.id);
    if (info.outcome !== "succeeded") return;
    const executor = executors.get(info.target.executor);
    const req = _execRequest(info);
    const probe = executor instanceof SshExecutor
      ? async (signal: AbortSignal) => {
        const r = await executor.probeBootId(req, signal);
        return r.kind === "ok" ? r : { kind: "failed" as const, detail: `${r.kind}: ${r.detail}` };
      }
      : undefined;
    // Without an agent or an SSH probe there is no way to see the host come back.
    if (!probe && !this.fleet.get(info.host)) return;
    this.recovery.track({
      id: info.id,
      host: info.host,
      startedAt: info.startedAt,
      bootIdBefore,
      probe,
    });
  }

  /** The chaos scheduler over this fleet; `submit` enters the inbox like a request. */
  chaos(
    options: {
      submit: (req: RestartRequest) => void;
      lastRestartAt: (host: string) => number | undefined;
    },
  ): ChaosScheduler {
    return new ChaosScheduler({
      config: () => this.#o.config().chaos,
      hostsOfGroup: (group) =>
        Object.entries(this.#o.config().hosts).filter(([, h]) => h.group === group).map(([name]) =>
          name
        ),
      isOnline: (host) => {
        const known = this.fleet.get(host);
        if (known) return known.online;
        const target = this.resolveHost(host);
        // Hosts without an agent are taken as online; agent hosts must have been seen.
        return target !== undefined &&
          this.#o.config().executors[target.executor]?.type !== "agent";
      },
      lastRestartAt: options.lastRestartAt,
      submit: options.submit,
      paused: () => this.killSwitch.paused(),
      clock: this.#o.clock,
    });
  }
}

function _safely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log("recovery").error("Cannot save recovery to history: {error}", { error: errorMessage(err) });
  }
}

function _execRequest(info: { id: string; host: string; target: HostTarget }) {
  return { id: info.id, host: info.host, address: info.target.address, port: info.target.port };
}
