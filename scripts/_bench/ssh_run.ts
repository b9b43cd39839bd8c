/**
 * One `mandrill run` over an {@linkcode SshFleet}, as both ssh scenarios
 * drive it: its `ssh` executor and one host entry per fleet host, `concurrency`
 * restarts at once; a burst of one request per host; then SIGTERM, which it
 * must exit 0 on, and a look at the broker for dropped messages.
 * @module
 */
import type { ConfigInput } from "../../src/config/mod.ts";
import type { BenchContext } from "./context.ts";
import { BenchMandrill } from "./mandrill.ts";
import type { PublisherResult } from "./publisher.ts";
import type { SshFleet } from "./ssh_fleet.ts";
import { burst } from "./throughput.ts";

/** Options of {@linkcode runOnFleet}. */
export interface FleetRunOptions {
  /** The scenario: its topic prefix and the name its errors start with. Required. */
  scenario: string;
  /** The ssh executor's remote command. Required. */
  command: string[];
  /** The ssh executor's `recovery`. Required. */
  recovery: "none" | "boot";
  /** Restarts at once: `maxUnavailable`, per group too. Required. */
  concurrency: number;
  /** Request ids are `{idPrefix}{i}`, one per host. Required. */
  idPrefix: string;
  /** More `policy` settings. Default: none. */
  policy?: NonNullable<ConfigInput["policy"]>;
  /** mandrill's `recovery` section. Default: mandrill's. */
  recoverySection?: ConfigInput["recovery"];
}

/** What the body of a run gets. */
export interface FleetRun {
  /** The running mandrill, ready. */
  m: BenchMandrill;
  /** Its topic prefix. */
  prefix: string;
  /** Publishes one request per host and waits until all are sent; throws if any failed. */
  send(): Promise<PublisherResult>;
}

/**
 * Starts mandrill on `fleet`, runs `body` (which measures and calls `send`),
 * then stops mandrill and checks the broker; returns what `body` returned.
 */
export async function runOnFleet<T>(
  ctx: BenchContext,
  fleet: SshFleet,
  o: FleetRunOptions,
  body: (run: FleetRun) => Promise<T>,
): Promise<T> {
  const prefix = ctx.prefix(o.scenario);
  const count = fleet.names.length;
  await using m = await BenchMandrill.start({
    url: ctx.broker.url,
    prefix,
    hosts: fleet.hostEntries("ssh"),
    executors: {
      ssh: fleet.executor({ command: o.command, recovery: o.recovery, timeoutSec: 60 }),
    },
    policy: {
      maxUnavailable: o.concurrency,
      maxUnavailablePerGroup: o.concurrency,
      ...o.policy,
    },
    ...(o.recoverySection ? { recovery: o.recoverySection } : {}),
  });
  const send = async () => {
    await using pub = burst(ctx, { prefix, count, idPrefix: o.idPrefix, hosts: count });
    const p = await pub.json<PublisherResult>(60_000);
    if (p.errors > 0) throw new Error(`${o.scenario}: ${p.errors} publishes failed`);
    return p;
  };
  const result = await body({ m, prefix, send });
  const stopped = await m.stop();
  if (stopped.code !== 0) {
    throw new Error(
      `${o.scenario}: mandrill exited with ${stopped.code} on SIGTERM${m.proc.tail()}`,
    );
  }
  await ctx.checkBroker(o.scenario);
  return result;
}
