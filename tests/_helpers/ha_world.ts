/**
 * Several `mandrill run` processes on one PostgreSQL store and one Mosquitto
 * in one shared subscription group, for the high-availability tests: a real
 * PostgreSQL (initdb + pg_ctl), simulated agent hosts (the real agent code)
 * and hosts restarted by a recording command.
 */
import { connect, type Db } from "../../src/store/pg/sql.ts";
import { SimulatedFleet } from "../../src/dev/sim_fleet.ts";
import { recordingArgv, writeTestConfig } from "./config.ts";
import { testKeys } from "./keys.ts";
import { Mosquitto } from "./mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "./mqtt.ts";
import { Postgres } from "./postgres.ts";
import { MandrillProcess } from "./process.ts";
import { waitFor } from "./wait.ts";

/** Options of {@linkcode HaWorld.start}. */
export interface HaWorldOptions {
  /** How many instances. Required. */
  instances: number;
  /** Simulated agent hosts: name → group. Default: none. */
  agentHosts?: Record<string, string>;
  /** Hosts restarted by a recording command (`sh -c 'echo ...'`): name → group. Default: none. */
  commandHosts?: Record<string, string | undefined>;
  /** Hosts whose restart command fails (exit 1). Default: none. */
  failingHosts?: string[];
  /** A simulated reboot takes between these many seconds. Default: [1, 1]. */
  rebootSec?: [number, number];
  /** The config's `policy`. Default: `{ minIntervalSec: 0 }`. */
  policy?: Record<string, unknown>;
  /** `store.leaseSec`. Default: 2. */
  leaseSec?: number;
  /** More config sections (chaos, ...). */
  extra?: Record<string, unknown>;
  /** `mqtt.sharedGroup` of every instance; null: none (each receives every request). Default: "mandrill". */
  sharedGroup?: string | null;
}

/** The instances, their store, broker and hosts; dispose to stop them all. */
export class HaWorld implements AsyncDisposable {
  readonly runs: (MandrillProcess | undefined)[];
  readonly files: string[];
  readonly ports: number[];
  readonly #o: HaWorldOptions;
  #sql: Db;

  /** A client on the store's database, to look at what the instances wrote. */
  get sql(): Db {
    return this.#sql;
  }

  /** A new client on the database (after it was restarted: the old one's connections were cut). */
  async reconnectSql(): Promise<void> {
    await this.#sql.end({ timeoutSec: 1 }).catch(() => {});
    this.#sql = connect({ url: this.url, max: 2 });
  }

  private constructor(
    readonly pg: Postgres,
    readonly broker: Mosquitto,
    readonly events: EventCollector,
    readonly fleet: SimulatedFleet | undefined,
    readonly dir: string,
    /** The store's database. */
    readonly url: string,
    sql: Db,
    readonly pub: Awaited<ReturnType<typeof connectClient>>,
    options: HaWorldOptions,
    config: { files: string[]; ports: number[] },
  ) {
    this.#o = options;
    this.#sql = sql;
    this.files = config.files;
    this.ports = config.ports;
    this.runs = config.files.map(() => undefined);
  }

  /** Starts PostgreSQL, the broker, the hosts and every instance (each ready to restart). */
  static async start(o: HaWorldOptions): Promise<HaWorld> {
    const pg = await Postgres.start();
    const broker = await Mosquitto.start();
    const dir = await Deno.makeTempDir({ prefix: "mandrill-ha-it-" });
    const url = await pg.createDatabase("mandrill");
    const keys = await testKeys(dir);
    const events = await EventCollector.start(broker.url);
    const agentHosts = Object.keys(o.agentHosts ?? {});
    const fleet = agentHosts.length === 0 ? undefined : await SimulatedFleet.start({
      url: broker.url,
      hosts: agentHosts,
      dir: `${dir}/fleet`,
      heartbeatSec: 0.2,
      rebootSec: o.rebootSec ?? [1, 1],
      agent: { security: { controllerKeyFile: keys.pubFile } },
    });
    const hosts = {
      ...Object.fromEntries(
        Object.entries(o.agentHosts ?? {}).map(([h, group]) => [h, { executor: "agent", group }]),
      ),
      ...Object.fromEntries((o.failingHosts ?? []).map((h) => [h, { executor: "fail" }])),
      ...Object.fromEntries(
        Object.entries(o.commandHosts ?? {}).map((
          [h, group],
        ) => [h, group === undefined ? { executor: "cmd" } : { executor: "cmd", group }]),
      ),
    };
    const files: string[] = [];
    const ports: number[] = [];
    for (let i = 0; i < o.instances; i++) {
      ports.push(0); // the kernel picks it; read back when the instance starts
      files.push(
        await writeTestConfig(dir, broker.url, {
          mqtt: o.sharedGroup === null
            ? { clientId: `mandrill-${i}` }
            : { clientId: `mandrill-${i}`, sharedGroup: o.sharedGroup ?? "mandrill" },
          store: { url, leaseSec: o.leaseSec ?? 2 },
          http: { listen: "127.0.0.1:0" },
          executors: {
            agent: { type: "agent", timeoutSec: 10, staleSec: 3 },
            cmd: {
              type: "command",
              argv: recordingArgv(`${dir}/executed.txt`),
              timeoutSec: 10,
            },
            fail: { type: "command", argv: ["sh", "-c", "exit 1", "sh"], timeoutSec: 10 },
          },
          security: { commandKeyFile: keys.keyFile },
          hosts,
          recovery: { probeIntervalSec: 0.2, timeoutSec: 60 },
          policy: o.policy ?? { minIntervalSec: 0 },
          ...o.extra,
        }, `m${i}`),
      );
    }
    const sql = connect({ url, max: 2 });
    const pub = await connectClient(broker.url);
    const world = new HaWorld(pg, broker, events, fleet, dir, url, sql, pub, o, { files, ports });
    try {
      await Promise.all(files.map((_, i) => world.startInstance(i)));
      // Every instance has heard every agent: none waits for a host it has not heard of yet.
      if (agentHosts.length > 0) {
        await Promise.all(ports.map((port) =>
          waitFor(async () => {
            const res = await fetch(`http://127.0.0.1:${port}/api/status`);
            const status = await res.json() as {
              groups: { hosts: { host: string; state: string }[] }[];
            };
            const up = new Set(
              status.groups.flatMap((g) => g.hosts).filter((h) => h.state === "up").map((h) =>
                h.host
              ),
            );
            return agentHosts.every((h) => up.has(h));
          }, { what: `every agent host up on the instance at port ${port}`, timeoutMs: 30_000 })
        ));
      }
    } catch (err) {
      await world[Symbol.asyncDispose]();
      throw err;
    }
    return world;
  }

  /** Starts instance `i` and waits until it knows the kill switch state (it restarts nothing before). */
  async startInstance(i: number): Promise<MandrillProcess> {
    const run = MandrillProcess.start(["run", "--config", this.files[i]!]);
    this.runs[i] = run;
    try {
      await run.waitForLine(/Kill switch: \W*(running|paused)/, { timeoutMs: 30_000 });
      this.ports[i] = await run.httpPort();
    } catch (err) {
      throw new Error(
        `instance ${i} did not start: ${String(err)}\n${run.lines.slice(-20).join("\n")}`,
      );
    }
    return run;
  }

  /** Kills instance `i` with SIGKILL (no shutdown at all) and waits for it to be gone. */
  async kill9(i: number): Promise<void> {
    const run = this.runs[i];
    if (!run) return;
    run.kill("SIGKILL");
    await run.exited();
  }

  /** Publishes restart requests (QoS 1) for `[id, host]` pairs. */
  async request(pairs: [string, string][]): Promise<void> {
    await publishAll(
      this.pub,
      "mandrill/restart",
      pairs.map(([id, host]) => JSON.stringify({ id, host })),
    );
  }

  /** The command executor's runs so far: `[host, id]`, in order. */
  async executions(): Promise<[string, string][]> {
    const text = await Deno.readTextFile(`${this.dir}/executed.txt`).catch(() => "");
    return text.split("\n").filter((l) => l !== "").map((l) => l.split(" ") as [string, string]);
  }

  /** Every inbox row: id → its state and outcome. */
  async inbox(): Promise<Map<string, { state: string; outcome: string | null }>> {
    const rows = await this.sql`SELECT id, state, outcome FROM inbox`;
    return new Map(
      rows.map((
        r,
      ) => [r.id as string, { state: r.state as string, outcome: r.outcome as string | null }]),
    );
  }

  /** Instance `i`'s `/readyz` status code, or 0 when it does not answer. */
  async readyz(i: number): Promise<number> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.ports[i]}/readyz`, {
        signal: AbortSignal.timeout(2_000),
      });
      await res.body?.cancel();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Waits until every id of `ids` is done in the inbox. */
  async allDone(ids: string[], timeoutMs = 90_000): Promise<void> {
    let last = "nothing read";
    try {
      await waitFor(async () => {
        const inbox = await this.inbox().catch((err) => {
          last = String(err);
          return new Map();
        });
        const missing = ids.filter((id) => inbox.get(id)?.state !== "done");
        if (inbox.size > 0) last = `${missing.length} not done, e.g. ${missing.slice(0, 5)}`;
        return missing.length === 0;
      }, { what: `${ids.length} requests done in the shared inbox`, timeoutMs, intervalMs: 200 });
    } catch (err) {
      throw new Error(`${String(err)} (${last})`);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const run of this.runs) await run?.[Symbol.asyncDispose]();
    await this.pub[Symbol.asyncDispose]();
    await this.#sql.end({ timeoutSec: 1 }).catch(() => {});
    await this.fleet?.[Symbol.asyncDispose]();
    await this.events[Symbol.asyncDispose]();
    await this.broker[Symbol.asyncDispose]();
    await this.pg[Symbol.asyncDispose]();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** The options it started with. */
  get options(): HaWorldOptions {
    return this.#o;
  }
}
