// deno-lint-ignore-file no-console
/**
 * A slice of the rolling scenario's fleet, in its own process: one simulated
 * host per name running the real agent code (a fake proc root, a simulated
 * reboot). Prints `READY` once every agent is connected; on SIGTERM, stops
 * them and prints one JSON line: every host's down spans (ms
 * since the epoch, from the host's own side) and restart count.
 *
 * Usage: deno run -A rolling_fleet.ts '{"url", "prefix", "hosts": [...], "dir", "heartbeatSec", "rebootSec", "pubFile"}'
 * @module
 */
import { SimulatedFleet } from "../../src/dev/sim_fleet.ts";

/** What the parent passes. */
export interface RollingFleetArgs {
  url: string;
  prefix: string;
  hosts: string[];
  dir: string;
  heartbeatSec: number;
  rebootSec: number;
  /** The controller's public key (agents run only signed commands). */
  pubFile: string;
}

/** What it prints at the end. */
export interface RollingFleetResult {
  spans: Record<string, { from: number; to?: number }[]>;
  restarts: number;
}

if (import.meta.main) {
  const a = JSON.parse(Deno.args[0]!) as RollingFleetArgs;
  const fleet = await SimulatedFleet.start({
    url: a.url,
    topicPrefix: a.prefix,
    hosts: a.hosts,
    dir: a.dir,
    heartbeatSec: a.heartbeatSec,
    rebootSec: [a.rebootSec, a.rebootSec],
    // Thousands of connections: each agent's keepalive well above its heartbeat.
    mqtt: { keepaliveSec: 60, reconnectMinMs: 200, reconnectMaxMs: 5_000 },
    agent: { security: { controllerKeyFile: a.pubFile } },
  });
  const stop = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGTERM", () => stop.resolve());
  const deadline = Date.now() + 120_000;
  while (fleet.online < a.hosts.length) {
    if (Date.now() > deadline) {
      console.error(`only ${fleet.online} of ${a.hosts.length} agents connected`);
      Deno.exit(1);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log("READY");
  await stop.promise;
  const spans: RollingFleetResult["spans"] = {};
  let restarts = 0;
  for (const [host, h] of fleet.hosts) {
    if (h.downs.length > 0) spans[host] = h.downs.map((d) => ({ ...d }));
    restarts += h.restarts.length;
  }
  await fleet[Symbol.asyncDispose]();
  console.log(JSON.stringify({ spans, restarts } satisfies RollingFleetResult));
}
