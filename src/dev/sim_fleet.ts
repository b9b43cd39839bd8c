/**
 * A simulated fleet for `mandrill dev`, the tests and the bench: one
 * {@linkcode SimulatedHost} (the real agent code, a fake proc root and a
 * simulated reboot) per host name, in one process.
 * @module
 */
import { SimulatedHost } from "./sim_host.ts";

/** Options of {@linkcode SimulatedFleet.start}. */
export interface SimulatedFleetOptions {
  /** Broker URL. Required. */
  url: string;
  /** Host names to simulate. Required. */
  hosts: readonly string[];
  /** Where each host keeps its files (`{dir}/{host}`). Required. */
  dir: string;
  /** Topic prefix. Default: `mandrill`. */
  topicPrefix?: string;
  /** Seconds between heartbeats. Default: 1. */
  heartbeatSec?: number;
  /** A reboot takes between these many seconds. Default: [2, 6]. */
  rebootSec?: readonly [number, number];
  /** Seconds each restart command runs before it answers. Default: 0. */
  commandSec?: number;
  /** More of the agents' `mqtt` section (e.g. protocolVersion). Default: none. */
  mqtt?: Record<string, unknown>;
  /** Other agent config, e.g. `security`. Default: none. */
  agent?: Record<string, unknown>;
}

/** A set of simulated hosts. Dispose to stop them all. */
export class SimulatedFleet implements AsyncDisposable {
  /** The hosts, by name. */
  readonly hosts: ReadonlyMap<string, SimulatedHost>;

  private constructor(hosts: Map<string, SimulatedHost>) {
    this.hosts = hosts;
  }

  /** Starts one simulated host per name (their agents connect in the background). */
  static async start(options: SimulatedFleetOptions): Promise<SimulatedFleet> {
    const hosts = new Map<string, SimulatedHost>();
    for (const host of options.hosts) {
      hosts.set(
        host,
        await SimulatedHost.start({
          host,
          dir: `${options.dir}/${host}`,
          mqtt: {
            url: options.url,
            topicPrefix: options.topicPrefix ?? "mandrill",
            clientId: `sim-agent-${host}`,
            ...options.mqtt,
          },
          agent: options.agent,
          heartbeatSec: options.heartbeatSec,
          rebootSec: options.rebootSec,
          commandSec: options.commandSec,
        }),
      );
    }
    return new SimulatedFleet(hosts);
  }

  /** Number of hosts whose agent is connected. */
  get online(): number {
    let n = 0;
    for (const h of this.hosts.values()) if (h.agent?.connected) n++;
    return n;
  }

  /** The host named `host`; throws a `RangeError` for an unknown one. */
  get(host: string): SimulatedHost {
    const h = this.hosts.get(host);
    if (!h) throw new RangeError(`No simulated host ${host}`);
    return h;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.hosts.values()].map((h) => h[Symbol.asyncDispose]()));
  }
}
