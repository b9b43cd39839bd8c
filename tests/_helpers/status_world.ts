/**
 * A running `mandrill run` (a process) with its HTTP endpoint on a free
 * port, a real Mosquitto and simulated hosts (the real agent code), for the
 * tests of `/api/status`, `mandrill status` and the status page.
 */
import type { MqttClient } from "mqtt";
import type { Status } from "../../src/status/mod.ts";
import { SimulatedFleet } from "../../src/dev/sim_fleet.ts";
import { writeTestConfig } from "./config.ts";
import { testKeys } from "./keys.ts";
import { Mosquitto } from "./mosquitto.ts";
import { connectClient, publishAll } from "./mqtt.ts";
import { MandrillProcess } from "./process.ts";
import { waitFor } from "./wait.ts";

/** Options of {@linkcode StatusWorld.start}. */
export interface StatusWorldOptions {
  /** Host name → group (undefined: no group). Required. */
  hosts: Record<string, string | undefined>;
  /** A simulated reboot takes between these many seconds. Default: [1, 1]. */
  rebootSec?: [number, number];
  /** Seconds a restart command runs before it answers. Default: 0. */
  commandSec?: number;
  /** The config's `policy`. Default: `{ minIntervalSec: 0 }`. */
  policy?: Record<string, unknown>;
}

/** Broker, simulated hosts and `mandrill run`; dispose to stop them all. */
export class StatusWorld implements AsyncDisposable {
  /** `mandrill run`'s config file. */
  readonly file: string;
  /** Its HTTP port. */
  readonly port: number;
  readonly fleet: SimulatedFleet;
  run: MandrillProcess;
  readonly #broker: Mosquitto;
  readonly #dir: string;
  readonly #pub: MqttClient & AsyncDisposable;

  private constructor(
    parts: {
      file: string;
      port: number;
      fleet: SimulatedFleet;
      run: MandrillProcess;
      broker: Mosquitto;
      dir: string;
      pub: MqttClient & AsyncDisposable;
    },
  ) {
    this.file = parts.file;
    this.port = parts.port;
    this.fleet = parts.fleet;
    this.run = parts.run;
    this.#broker = parts.broker;
    this.#dir = parts.dir;
    this.#pub = parts.pub;
  }

  /** Starts everything and waits until mandrill has heard from every agent. */
  static async start(options: StatusWorldOptions): Promise<StatusWorld> {
    const broker = await Mosquitto.start();
    const dir = await Deno.makeTempDir({ prefix: "mandrill-status-it-" });
    const hosts = Object.keys(options.hosts);
    const keys = await testKeys(dir);
    const fleet = await SimulatedFleet.start({
      url: broker.url,
      hosts,
      dir: `${dir}/fleet`,
      heartbeatSec: 0.2,
      rebootSec: options.rebootSec ?? [1, 1],
      commandSec: options.commandSec,
      agent: { security: { controllerKeyFile: keys.pubFile } },
    });
    const file = await writeTestConfig(dir, broker.url, {
      http: { listen: "127.0.0.1:0" },
      security: { commandKeyFile: keys.keyFile },
      executors: { agent: { type: "agent", timeoutSec: 10, staleSec: 3 } },
      hosts: Object.fromEntries(
        Object.entries(options.hosts).map(([h, group]) => [
          h,
          group === undefined ? { executor: "agent" } : { executor: "agent", group },
        ]),
      ),
      recovery: { probeIntervalSec: 0.2, timeoutSec: 60 },
      policy: options.policy ?? { minIntervalSec: 0 },
    });
    const run = MandrillProcess.start(["run", "--config", file]);
    // The kernel picked the port; a restart of mandrill (restartRun) keeps it.
    const port = await run.httpPort();
    const config = JSON.parse(await Deno.readTextFile(file));
    config.http.listen = `127.0.0.1:${port}`;
    await Deno.writeTextFile(file, JSON.stringify(config));
    const pub = await connectClient(broker.url);
    const world = new StatusWorld({ file, port, fleet, run, broker, dir, pub });
    try {
      await waitFor(async () => {
        const s = await world.status();
        return s.groups.flatMap((g) => g.hosts).filter((h) => h.state === "up").length ===
          hosts.length;
      }, { what: "every simulated host up in /api/status", timeoutMs: 30_000 });
    } catch (err) {
      await world[Symbol.asyncDispose]();
      throw err;
    }
    return world;
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `GET /api/status`, parsed. */
  async status(): Promise<Status> {
    const res = await fetch(`${this.url}/api/status`);
    if (!res.ok) throw new Error(`/api/status answered ${res.status}: ${await res.text()}`);
    return await res.json();
  }

  /** Publishes a restart request (QoS 1). */
  async request(
    msg: { id: string; host: string; reason?: string; requestedBy?: string },
  ): Promise<void> {
    await publishAll(this.#pub, "mandrill/restart", [JSON.stringify(msg)]);
  }

  /** Stops `mandrill run` (SIGTERM) and waits for it to exit. */
  async stopRun(): Promise<void> {
    this.run.kill("SIGTERM");
    await this.run.exited();
  }

  /** Starts `mandrill run` again on the same config. */
  restartRun(): void {
    this.run = MandrillProcess.start(["run", "--config", this.file]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.run[Symbol.asyncDispose]();
    await this.#pub.endAsync(true);
    await this.fleet[Symbol.asyncDispose]();
    await this.#broker[Symbol.asyncDispose]();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
