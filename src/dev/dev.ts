/**
 * `mandrill dev`: the whole system on one laptop — an embedded MQTT broker,
 * a simulated fleet of agents and the controller with chaos on at a fast
 * pace, logs in pretty form. Ctrl-C shuts everything down.
 * @module
 */
import "../mqtt/_quiet_debug.ts";
import mqtt from "mqtt";
import { delay } from "../async/mod.ts";
import { parseConfig } from "../config/mod.ts";
import { generateKeyPair } from "../security/mod.ts";
import type { Config, ConfigInput } from "../config/mod.ts";
import { errorMessage, log } from "../log.ts";
import { runService } from "../service.ts";
import { startEmbeddedBroker } from "./broker.ts";
import { SimulatedFleet } from "./sim_fleet.ts";

/** Options of {@linkcode runDev}. */
export interface DevOptions {
  /** Simulated hosts. Default: 20. */
  hosts?: number;
  /** Broker port; 0 picks a free one. Default: 1883, or a free port when taken. */
  port?: number;
  /** HTTP port for /metrics; 0 picks a free one. Default: 9464, or a free port when taken. */
  httpPort?: number;
}

const GROUPS = ["web", "api", "db"] as const;

/** The controller config of dev mode for `hosts` simulated hosts (its key pair in `dir`). */
export function devConfig(
  options: { url: string; dir: string; hosts: number; httpPort: number },
): Config {
  const hosts: NonNullable<ConfigInput["hosts"]> = {};
  for (let i = 1; i <= options.hosts; i++) {
    hosts[`sim-${i}`] = { executor: "agent", group: GROUPS[i % GROUPS.length]! };
  }
  const chaosGroup = { meanTimeBetweenRestarts: "12s", minTimeBetweenRestarts: "4s" };
  // The budget demo's two hosts are left out of chaos, so their first restart is the demo's.
  const demo = demoHosts(Object.keys(hosts));
  return parseConfig({
    mqtt: {
      url: options.url,
      protocolVersion: 4,
      clientId: "mandrill-dev",
      reconnectMinMs: 200,
      reconnectMaxMs: 2000,
    },
    store: { path: `${options.dir}/mandrill.db` },
    http: { listen: `127.0.0.1:${options.httpPort}` },
    executors: { agent: { type: "agent", timeoutSec: 10, staleSec: 10 } },
    security: { commandKeyFile: `${options.dir}/command.key` },
    hosts,
    policy: { maxUnavailable: 3, maxUnavailablePerGroup: 1, minIntervalSec: 15, maxPerHour: 1000 },
    recovery: { timeoutSec: 60, probeIntervalSec: 1 },
    chaos: {
      enabled: true,
      leashed: false,
      tickSec: 1,
      groups: Object.fromEntries(
        GROUPS.map((g) => [g, g === "db" ? { ...chaosGroup, exclude: demo } : chaosGroup]),
      ),
    },
    shutdown: { graceSec: 5 },
    log: { level: "info", format: "pretty" },
  });
}

function _portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** The two hosts of group db the budget demo restarts (none with fewer than 5 hosts). */
export function demoHosts(hosts: readonly string[]): string[] {
  const db = hosts.filter((_, i) => GROUPS[(i + 1) % GROUPS.length] === "db");
  return db.length >= 2 ? db.slice(0, 2) : [];
}

/**
 * Shows the unavailability budget at work, once: as soon as the fleet is up,
 * asks for two restarts in group db at once; with maxUnavailablePerGroup 1,
 * the second waits (logged) until the first host is back.
 */
async function _budgetDemo(url: string, fleet: SimulatedFleet, signal: AbortSignal): Promise<void> {
  const hosts = demoHosts([...fleet.hosts.keys()]);
  if (hosts.length < 2) return;
  try {
    await delay(3_000, { signal });
    while (fleet.online < fleet.hosts.size) await delay(250, { signal });
    const client = await mqtt.connectAsync(url, { protocolVersion: 4 });
    try {
      const ts = Date.now();
      log("dev").info(
        "Demo: asking for restarts of {a} and {b} (group db) at once; maxUnavailablePerGroup is 1, so one waits",
        { a: hosts[0], b: hosts[1] },
      );
      for (const [i, host] of hosts.slice(0, 2).entries()) {
        const request = {
          id: `demo-${ts}-${i + 1}`,
          host,
          reason: "dev demo: two restarts in one group at once",
          requestedBy: "dev",
        };
        await client.publishAsync("mandrill/restart", JSON.stringify(request), { qos: 1 });
      }
    } finally {
      await client.endAsync();
    }
  } catch (err) {
    if (!signal.aborted) log("dev").warn("Demo failed: {error}", { error: errorMessage(err) });
  }
}

/** Runs dev mode until SIGINT/SIGTERM; resolves to the exit status. */
export async function runDev(options: DevOptions = {}): Promise<number> {
  const logger = log("dev");
  const n = options.hosts ?? 20;
  const port = options.port ?? (_portFree(1883) ? 1883 : 0);
  const httpPort = options.httpPort ?? (_portFree(9464) ? 9464 : 0);
  const dir = await Deno.makeTempDir({ prefix: "mandrill-dev-" });
  try {
    // Its own key pair: agents run only commands this controller signed.
    const keys = await generateKeyPair();
    await Deno.writeTextFile(`${dir}/command.key`, keys.privatePem, { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/command.pub`, keys.publicPem);
    await using broker = await startEmbeddedBroker(port);
    const config = devConfig({ url: broker.url, dir, hosts: n, httpPort });
    const configPath = `${dir}/mandrill.json`;
    await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
    logger.info("Embedded MQTT broker (aedes, MQTT 3.1.1) on {url}, port {port}", {
      url: broker.url,
      port: broker.port,
    });
    logger.info("Dev config: {configPath}", { configPath });
    logger.info("Send a restart by hand: {cmd}", {
      cmd:
        `mosquitto_pub -p ${broker.port} -q 1 -t mandrill/restart -m '{"id":"manual-1","host":"sim-1"}'`,
    });
    logger.info(
      "Pause chaos and requests: deno task mandrill pause --config {configPath} --reason 'coffee'",
      {
        configPath,
      },
    );
    await using fleet = await SimulatedFleet.start({
      url: broker.url,
      hosts: Object.keys(config.hosts),
      dir: `${dir}/fleet`,
      heartbeatSec: 1,
      mqtt: { protocolVersion: 4 },
      agent: { security: { controllerKeyFile: `${dir}/command.pub` } },
    });
    logger.info("Simulated fleet: {n} hosts running the real agent code, in groups {groups}", {
      n,
      groups: GROUPS.join(", "),
    });
    const demo = new AbortController();
    const demoDone = _budgetDemo(broker.url, fleet, demo.signal);
    try {
      return await runService(config, { configPath });
    } finally {
      demo.abort();
      await demoDone;
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
