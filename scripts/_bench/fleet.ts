/**
 * Fleet scale: `mandrill run` while a publisher simulates `fleetHosts` agents
 * heartbeating (`{p}/agents/{host}/heartbeat`, QoS 0, round robin) at
 * `fleetRate` per second. Measures mandrill's memory (VmHWM, VmRSS) and CPU,
 * and whether it consumes heartbeats at all: it does once it subscribes to
 * `{p}/agents/+/heartbeat` (seen in the broker's subscription log).
 * @module
 */
import { freePort } from "../../tests/_helpers/wait.ts";
import { subscriptionsOf } from "./broker.ts";
import type { BenchContext } from "./context.ts";
import { SCRIPTS } from "./context.ts";
import { BenchMandrill } from "./mandrill.ts";
import { BenchProcess, waitUntil } from "./proc.ts";
import type { PublisherArgs, PublisherResult } from "./publisher.ts";

/** One fleet run; memory in bytes. */
export interface FleetRun {
  idle: { rss: number; hwm: number; heapUsed: number };
  after: { rss: number; hwm: number; heapUsed: number };
  /** Heartbeats per second actually published. */
  sentPerSec: number;
  /** Share of one core mandrill used while heartbeats came in (1 = one full core). */
  cpuCores: number;
  /** Whether mandrill subscribed to heartbeats. */
  consumed: boolean;
  /** What mandrill subscribed to. */
  subscriptions: string[];
  /** `/metrics` lines that mention the fleet, if mandrill serves metrics. */
  fleetMetrics: string[];
  /** Hosts in mandrill's fleet view (its `*_fleet_hosts` gauge), if served. */
  hostsTracked: number | undefined;
}

/**
 * How mandrill knows the fleet's hosts: `announced`, none configured and
 * `fleet.allowAgentHosts` (each agent's heartbeat announces its host);
 * `configured`, every host listed in `hosts` with the agent executor.
 */
export type FleetMode = "announced" | "configured";

/** `fleetHosts` agents heartbeating at `fleetRate`/s for `fleetSec`. */
export async function fleetRun(ctx: BenchContext, mode: FleetMode): Promise<FleetRun> {
  const { fleetHosts, fleetRate, fleetSec } = ctx.sizes;
  const prefix = ctx.prefix(`fleet-${mode}`);
  const port = freePort();
  // Heartbeats count only from hosts with an agent, configured or (where
  // allowed) announced: every one of them is, so mandrill holds the per-host
  // state (fleet view, budget group, liveness) of all. Nothing is restarted
  // (dry run), so commands go unsigned.
  await using m = await BenchMandrill.start({
    url: ctx.broker.url,
    prefix,
    hosts: mode === "configured"
      ? Object.fromEntries(
        Array.from({ length: fleetHosts }, (_, i) => [`h-${i}`, {
          executor: "agent",
          group: `g-${i % 100}`,
        }]),
      )
      : {},
    executors: { agent: { type: "agent", timeoutSec: 60 } },
    ...(mode === "announced" ? { fleet: { allowAgentHosts: true, agentExecutor: "agent" } } : {}),
    security: { allowUnsigned: true },
    policy: { dryRun: true },
    httpListen: `127.0.0.1:${port}`,
  });
  const scrape = () => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const heapUsed = (text: string) =>
    Number(/^mandrill_heap_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
  const idle = { ...m.memory(), heapUsed: heapUsed(await scrape()) };
  const args: PublisherArgs = {
    mode: "heartbeat",
    url: ctx.broker.url,
    prefix,
    hosts: fleetHosts,
    rate: fleetRate,
    durationSec: fleetSec,
  };
  const cpu0 = m.cpuSeconds();
  const t0 = performance.now();
  await using pub = BenchProcess.deno(SCRIPTS.publisher, [JSON.stringify(args)]);
  const p = await pub.json<PublisherResult>((fleetSec + 60) * 1000);
  // QoS 0 has no acknowledgement: wait until mandrill goes quiet (under 5% of a core).
  let last = m.cpuSeconds();
  await waitUntil(() => {
    const now = m.cpuSeconds();
    const quiet = now - last < 0.025;
    last = now;
    return quiet;
  }, { timeoutMs: 60_000, intervalMs: 500, what: "mandrill to finish with the heartbeats" });
  const busySec = (performance.now() - t0) / 1000;
  const cpuCores = (m.cpuSeconds() - cpu0) / busySec;
  const memory = m.memory();
  const text = await scrape();
  const after = { ...memory, heapUsed: heapUsed(text) };
  const fleetMetrics = text.split("\n")
    .filter((l) => /fleet|agent|heartbeat/i.test(l) && !l.startsWith("#"));
  const stopped = await m.stop();
  if (stopped.code !== 0) {
    throw new Error(`fleet: mandrill exited with ${stopped.code} on SIGTERM${m.proc.tail()}`);
  }
  await ctx.checkBroker("fleet");
  const subscriptions = await subscriptionsOf(ctx.broker, m.clientId);
  const gauge = fleetMetrics.map((l) => l.match(/^\w*fleet_hosts(?:\{[^}]*\})?\s+(\S+)$/))
    .find((m) => m !== null);
  // A memory figure for a fleet mandrill ignored would measure nothing. Hosts
  // heartbeat round robin: a short run (--quick) reaches only the first `sent`.
  const heartbeated = Math.min(fleetHosts, p.sent);
  if (gauge && Number(gauge[1]) < heartbeated) {
    throw new Error(
      `fleet: mandrill's fleet view holds ${gauge[1]} of the ${heartbeated} hosts that heartbeated`,
    );
  }
  return {
    idle,
    after,
    hostsTracked: gauge ? Number(gauge[1]) : undefined,
    sentPerSec: p.sent / ((p.lastSendAt - p.firstSendAt) / 1000),
    cpuCores,
    consumed: subscriptions.some((s) => s.endsWith("/heartbeat")),
    subscriptions,
    fleetMetrics,
  };
}
