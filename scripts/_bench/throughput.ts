/**
 * Throughput scenarios:
 * 1. ceiling — a bare MQTT.js subscriber receiving N QoS 1 messages;
 * 2. pipeline — `mandrill run` taking the same N requests through intake,
 *    inbox, dispatcher, policy (dry run: every one is skipped) and store,
 *    with its memory at idle and after the run;
 * 3. executor — fewer requests, each running `/bin/true`.
 *
 * Every run starts its own child processes; times run from the publisher's
 * first send to the last message received (ceiling) or the last inbox row's
 * `finished_at` (pipeline, executor).
 * @module
 */
import type { BenchContext } from "./context.ts";
import { SCRIPTS } from "./context.ts";
import { BenchMandrill } from "./mandrill.ts";
import { BenchProcess, readCpuSeconds, readMachineBusySeconds } from "./proc.ts";
import type { PublisherArgs, PublisherResult } from "./publisher.ts";
import type { SpawnCeilingResult } from "./spawn_ceiling.ts";
import type { SubscriberResult } from "./subscriber.ts";

/** One ceiling run. */
export interface CeilingRun {
  /** N / (last message received − first send). */
  msgsPerSec: number;
  /** N / (last PUBACK from the broker − first send): how fast the broker takes them. */
  publishPerSec: number;
}

/**
 * What a burst publishes: `count` requests with ids `{idPrefix}{i}` for hosts
 * `h-{i % hosts}` under `prefix`.
 */
export interface BurstOptions {
  prefix: string;
  count: number;
  idPrefix: string;
  /** Hosts the requests go round. Default: the context's `sizes.hosts`. */
  hosts?: number;
}

/** Starts the burst publisher (window from the context's sizes). */
export function burst(ctx: BenchContext, o: BurstOptions): BenchProcess {
  const args: PublisherArgs = {
    mode: "burst",
    url: ctx.broker.url,
    prefix: o.prefix,
    count: o.count,
    idPrefix: o.idPrefix,
    hosts: o.hosts ?? ctx.sizes.hosts,
    window: ctx.sizes.window,
  };
  return BenchProcess.deno(SCRIPTS.publisher, [JSON.stringify(args)]);
}

/**
 * Ceiling: N QoS 1 messages from publish to a bare subscriber; with `events`,
 * one that also publishes that many QoS 1 events per message.
 */
export async function ceilingRun(ctx: BenchContext, events = 0): Promise<CeilingRun> {
  const { n } = ctx.sizes;
  const prefix = ctx.prefix(events > 0 ? "ceiling-events" : "ceiling");
  await using sub = BenchProcess.deno(SCRIPTS.subscriber, [
    JSON.stringify({
      url: ctx.broker.url,
      topic: `${prefix}/restart`,
      count: n,
      events,
      eventsTopic: `${prefix}/events`,
    }),
  ]);
  await sub.waitForStdout(/^READY$/, 30_000);
  await using pub = burst(ctx, { prefix, count: n, idPrefix: "b-" });
  const [p, s] = await Promise.all([
    pub.json<PublisherResult>(300_000),
    sub.json<SubscriberResult>(300_000),
  ]);
  if (p.errors > 0) throw new Error(`ceiling: ${p.errors} publishes failed`);
  if (s.received !== n) throw new Error(`ceiling: received ${s.received} of ${n}`);
  await ctx.checkBroker(events > 0 ? "ceiling with events" : "ceiling");
  return {
    msgsPerSec: n / ((s.lastAt - p.firstSendAt) / 1000),
    publishPerSec: n / ((p.lastAckAt - p.firstSendAt) / 1000),
  };
}

/** One pipeline or executor run. */
export interface PipelineRun {
  /** N / (last finished_at − first send). */
  msgsPerSec: number;
  /** N / (last inbox insert − first send): intake alone (validate, insert, ack). */
  intakePerSec: number;
  /** N / (the broker's last PUBACK to the publisher − first send). */
  publishPerSec: number;
  /** CPU seconds mandrill used per 1,000 requests. */
  cpuSecPer1k: number;
  /**
   * Where the machine's CPU went, in CPU seconds per 1,000 requests: the
   * children mandrill waited for (the executor's processes), the broker, the
   * publisher (its start-up left out), and the whole machine (every process,
   * not idle; the publisher's start-up left out).
   */
  account: { children: number; broker: number; publisher: number; machine: number };
  /** The machine's busy cores from the first send to the last request done. */
  machineBusyCores: number;
  /** Memory right after start (bytes). */
  idle: { rss: number; hwm: number };
  /** Memory after the run (bytes). */
  after: { rss: number; hwm: number };
  /** ms from spawn to handling its first request. */
  readyMs: number;
  /** Paths of CPU profiles written (with `cpuProfDir`). */
  profiles: string[];
}

/** Options of {@linkcode pipelineRun}. */
export interface PipelineRunOptions {
  /** Dry run (pipeline) or run `/bin/true` (executor). */
  dryRun: boolean;
  /** Requests. */
  count: number;
  /** Write a V8 CPU profile of mandrill into this directory. Default: none. */
  cpuProfDir?: string;
}

/** Pipeline (dry run) or executor (`/bin/true`): N requests through `mandrill run`. */
export async function pipelineRun(
  ctx: BenchContext,
  options: PipelineRunOptions,
): Promise<PipelineRun> {
  const { count, dryRun, cpuProfDir } = options;
  const scenario = dryRun ? "pipeline" : "executor";
  const prefix = ctx.prefix(scenario);
  await using m = await BenchMandrill.start({
    url: ctx.broker.url,
    prefix,
    hosts: ctx.sizes.hosts,
    argv: ["/bin/true"],
    policy: {
      dryRun,
      maxUnavailable: ctx.sizes.maxUnavailable,
      maxUnavailablePerGroup: ctx.sizes.maxUnavailable,
    },
    denoFlags: cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [],
  });
  const idle = m.memory();
  const brokerPid = ctx.broker.pid;
  if (brokerPid === undefined) throw new Error(`${scenario}: the broker is not running`);
  const cpu0 = m.cpuSeconds();
  const children0 = m.childrenCpuSeconds();
  const broker0 = readCpuSeconds(brokerPid);
  const machine0 = readMachineBusySeconds();
  await using pub = burst(ctx, { prefix, count, idPrefix: "b-" });
  const p = await pub.json<PublisherResult>(300_000);
  if (p.errors > 0) throw new Error(`${scenario}: ${p.errors} publishes failed`);
  await m.waitDone("b-", count, 300_000);
  const machine = readMachineBusySeconds() - machine0 - p.startupCpuSeconds;
  const after = m.memory();
  const cpu = m.cpuSeconds() - cpu0;
  const children = m.childrenCpuSeconds() - children0;
  const broker = readCpuSeconds(brokerPid) - broker0;
  const span = m.span("b-");
  const outcomes = m.outcomes("b-");
  const expected = dryRun ? "skipped" : "succeeded";
  if (outcomes[expected] !== count) {
    throw new Error(`${scenario}: expected ${count} ${expected}, got ${JSON.stringify(outcomes)}`);
  }
  const stopped = await m.stop();
  if (stopped.code !== 0) {
    throw new Error(`${scenario}: mandrill exited with ${stopped.code} on SIGTERM${m.proc.tail()}`);
  }
  await ctx.checkBroker(scenario);
  const profiles = [];
  if (cpuProfDir) {
    for await (const e of Deno.readDir(cpuProfDir)) {
      if (e.name.endsWith(".cpuprofile")) profiles.push(`${cpuProfDir}/${e.name}`);
    }
  }
  const seconds = (span.lastFinishedAt - p.firstSendAt) / 1000;
  const per1k = (cpuSec: number) => (cpuSec / count) * 1000;
  return {
    msgsPerSec: count / seconds,
    intakePerSec: count / ((span.lastReceivedAt - p.firstSendAt) / 1000),
    publishPerSec: count / ((p.lastAckAt - p.firstSendAt) / 1000),
    cpuSecPer1k: per1k(cpu),
    account: {
      children: per1k(children),
      broker: per1k(broker),
      publisher: per1k(p.cpuSeconds - p.startupCpuSeconds),
      machine: per1k(machine),
    },
    machineBusyCores: machine / seconds,
    idle,
    after,
    readyMs: m.readyMs,
    profiles,
  };
}

/** One run of the executor's ceiling (see `spawn_ceiling.ts`). */
export type SpawnCeilingRun = Omit<SpawnCeilingResult, "spawns" | "failed">;

/**
 * The executor's ceiling: a bare Deno process starting `argv` execN times,
 * maxUnavailable at once, with no MQTT, store or pipeline around it; with
 * `withHost`, each with a host name appended, as mandrill's command executor
 * runs it.
 */
export async function spawnCeilingRun(
  ctx: BenchContext,
  argv: string[],
  withHost: boolean,
): Promise<SpawnCeilingRun> {
  const { execN, maxUnavailable, hosts } = ctx.sizes;
  await using p = BenchProcess.deno(SCRIPTS.spawnCeiling, [
    JSON.stringify({
      argv,
      count: execN,
      concurrency: maxUnavailable,
      ...(withHost ? { hosts } : {}),
    }),
  ]);
  const r = await p.json<SpawnCeilingResult>(300_000);
  if (r.failed > 0) throw new Error(`spawn ceiling: ${r.failed} of ${r.spawns} ${argv[0]} failed`);
  const { spawns: _, failed: __, ...run } = r;
  return run;
}
