/**
 * The bench's scenarios, each run `ctx.runs` times and turned into figures:
 * ceiling, pipeline (+ memory), executor, ssh fanout and ssh recovery (one
 * real sshd; see ssh_scenarios.ts), latency at the target rate, latency at a
 * sustainable rate, fleet (heartbeats, memory) and shutdown.
 * @module
 */
import type { BenchContext } from "./context.ts";
import { type FleetRun, fleetRun } from "./fleet.ts";
import { type PgPipelineRun, pgPipelineRun } from "./pg_pipeline.ts";
import { type RollingRun, rollingRun } from "./rolling.ts";
import { postgresBinDir } from "../../tests/_helpers/postgres.ts";
import { type LatencyRun, latencyRun, type OverloadedRun } from "./latency.ts";
import { type ShutdownRun, shutdownRun } from "./shutdown.ts";
import { Figures, repeat } from "./figures.ts";
import { findProgram } from "./proc.ts";
import type { Goal } from "./report.ts";
import { type FanoutResult, sshFanoutScenario, sshRecoveryScenario } from "./ssh_scenarios.ts";
import { type Figure, median, mib } from "./stats.ts";
import {
  type CeilingRun,
  ceilingRun,
  type PipelineRun,
  pipelineRun,
  type SpawnCeilingRun,
  spawnCeilingRun,
} from "./throughput.ts";

/** The executor's goal: this share of bare Deno spawning /bin/true (issue 16, item 5). */
const EXECUTOR_GOAL = 0.8;

/** Scenario names, in the order they run. */
export const SCENARIOS = [
  "ceiling",
  "pipeline",
  "executor",
  "ssh-fanout",
  "ssh-recovery",
  "ssh-fanout-x25519",
  "latency",
  "latency-sustained",
  "fleet",
  "rolling",
  "pg-pipeline",
  "shutdown",
] as const;
/** One scenario name. */
export type Scenario = typeof SCENARIOS[number];

/** What the scenarios produced. */
export interface ScenarioResults {
  figures: Figure[];
  goals: Goal[];
  details: Record<string, unknown>;
  notes: string[];
  /** Scenarios that threw (noted with their error); the others ran. */
  failed: Scenario[];
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** Runs the `selected` scenarios in order. */
export async function runScenarios(
  ctx: BenchContext,
  selected: ReadonlySet<Scenario>,
): Promise<ScenarioResults> {
  const z = ctx.sizes;
  const f = new Figures();
  const details: Record<string, unknown> = {};
  const notes: string[] = [];
  const failed: Scenario[] = [];
  const up = true;
  /**
   * Runs one selected scenario; one that fails is noted with its error and
   * the others still run, so one broken scenario does not lose a whole run.
   */
  const attempt = async (name: Scenario, run: () => Promise<void>, part: string = name) => {
    if (!selected.has(name)) return;
    try {
      await run();
    } catch (err) {
      if (!failed.includes(name)) failed.push(name);
      const message = err instanceof Error ? err.message : String(err);
      notes.push(`${part}: FAILED, so its figures are missing or partial: ${message}`);
      ctx.progress(`${part} FAILED: ${message}`);
    }
  };

  let ceiling: CeilingRun[] = [];
  let withEvents: CeilingRun[] = [];
  await attempt("ceiling", async () => {
    ceiling = await repeat(ctx, { name: "ceiling", run: () => ceilingRun(ctx) });
    details.ceiling = ceiling;
    f.add("ceiling", {
      metric: `bare MQTT.js subscriber, ${fmt(z.n)} QoS 1`,
      unit: "msgs/s",
      runs: ceiling.map((r) => r.msgsPerSec),
      higherIsBetter: up,
      note: "separate process; first publish → last message received",
    });
    f.add("ceiling", {
      metric: "publisher → broker (PUBACKs)",
      unit: "msgs/s",
      runs: ceiling.map((r) => r.publishPerSec),
      higherIsBetter: up,
      note: `one MQTT.js publisher, ${fmt(z.window)} in flight`,
    });
    withEvents = await repeat(ctx, {
      name: "ceiling with events",
      run: () => ceilingRun(ctx, 2),
    });
    details.ceilingWithEvents = withEvents;
    f.add("ceiling", {
      metric: "the same, publishing 2 QoS 1 events per message",
      unit: "msgs/s",
      runs: withEvents.map((r) => r.msgsPerSec),
      higherIsBetter: up,
      note:
        "parses each message and sends its 2 events; first publish → broker acked the last event",
    });
  });

  let pipeline: PipelineRun[] = [];
  await attempt("pipeline", async () => {
    pipeline = await repeat(ctx, {
      name: "pipeline",
      run: () => pipelineRun(ctx, { dryRun: true, count: z.n }),
    });
    details.pipeline = pipeline;
    f.add("pipeline", {
      metric: `mandrill run, dry run, ${fmt(z.n)} requests`,
      unit: "msgs/s",
      runs: pipeline.map((r) => r.msgsPerSec),
      higherIsBetter: up,
      note: "first publish → last request done (inbox finished_at)",
    });
    const rates = pipeline.map((r) => r.msgsPerSec);
    f.ratio(
      "pipeline",
      "ratio to ceiling",
      rates,
      ceiling.map((r) => r.msgsPerSec),
      "each run / median ceiling",
    );
    f.ratio(
      "pipeline",
      "ratio to the ceiling with events",
      rates,
      withEvents.map((r) => r.msgsPerSec),
      "each run / median ceiling with 2 events per message",
    );
    f.add("pipeline", {
      metric: "intake (first publish → last inbox insert)",
      unit: "msgs/s",
      runs: pipeline.map((r) => r.intakePerSec),
      higherIsBetter: up,
      note: "validate + insert, before the PUBACK; dispatch runs alongside",
    });
    f.add("pipeline", {
      metric: "mandrill CPU per 1,000 requests",
      unit: "CPU s",
      runs: pipeline.map((r) => r.cpuSecPer1k),
    });
    f.add("pipeline", {
      metric: "spawn → first request handled",
      unit: "ms",
      runs: pipeline.map((r) => r.readyMs),
      note: `${fmt(z.hosts)} hosts in config`,
    });
    const mem = (metric: string, runs: number[]) => f.add("memory", { metric, unit: "MiB", runs });
    mem("idle VmRSS", pipeline.map((r) => mib(r.idle.rss)));
    mem("idle VmHWM (peak)", pipeline.map((r) => mib(r.idle.hwm)));
    mem(`after ${fmt(z.n)} requests VmHWM`, pipeline.map((r) => mib(r.after.hwm)));
    mem(`after ${fmt(z.n)} requests VmRSS`, pipeline.map((r) => mib(r.after.rss)));
  });

  await attempt("executor", async () => {
    const setsid = findProgram("setsid");
    // mandrill's command executor appends the host name: the ceilings do too,
    // or they measure a cheaper child (GNU true sets up the locale only when
    // it has an argument to check for --help: a third more CPU per child).
    const ceilings: {
      name: string;
      label: string;
      argv: string[];
      withHost: boolean;
      runs: SpawnCeilingRun[];
    }[] = [
      {
        name: "/bin/true HOST",
        label: "/bin/true HOST (the argv mandrill's children get)",
        argv: ["/bin/true"],
        withHost: true,
        runs: [],
      },
      {
        name: "/bin/true with no argument",
        label: "/bin/true with no argument (the ceiling of earlier benches)",
        argv: ["/bin/true"],
        withHost: false,
        runs: [],
      },
    ];
    if (setsid) {
      ceilings.push({
        name: "setsid /bin/true HOST",
        label: "setsid /bin/true HOST (mandrill's way where FFI is not allowed)",
        argv: [setsid, "--", "/bin/true"],
        withHost: true,
        runs: [],
      });
    }
    // Round robin, as ssh-fanout does: the machine's speed drifts over a run
    // of the bench, so each mandrill run is held against the /bin/true HOST
    // ceiling measured just before and just after it.
    const bare = ceilings[0]!;
    const paired: number[] = [];
    /** The /bin/true ceiling each run is held against: the mean of the runs just before and after it. */
    const pairedCeiling: number[] = [];
    const runs: Awaited<ReturnType<typeof pipelineRun>>[] = [];
    for (let i = 1; i <= ctx.runs; i++) {
      const ceilingOf = async (c: (typeof ceilings)[number]) => {
        const r = await spawnCeilingRun(ctx, c.argv, c.withHost);
        c.runs.push(r);
        ctx.progress(
          `spawn ceiling ${c.name} run ${i}/${ctx.runs}: ${fmt(Math.round(r.spawnsPerSec))}/s`,
        );
        return r.spawnsPerSec;
      };
      const before = await ceilingOf(bare);
      const r = await pipelineRun(ctx, { dryRun: false, count: z.execN });
      runs.push(r);
      ctx.progress(`executor run ${i}/${ctx.runs}: ${fmt(Math.round(r.msgsPerSec))} req/s`);
      const after = await ceilingOf(bare);
      pairedCeiling.push((before + after) / 2);
      paired.push(r.msgsPerSec / pairedCeiling.at(-1)!);
      for (const c of ceilings.slice(1)) await ceilingOf(c);
    }
    for (const c of ceilings) {
      f.add("executor", {
        metric: `ceiling: bare Deno spawning ${c.label}, ${z.maxUnavailable} at once`,
        unit: "spawns/s",
        runs: c.runs.map((r) => r.spawnsPerSec),
        higherIsBetter: up,
        note: "separate process; stdout and stderr piped and read, as mandrill does",
      });
      f.add("executor", {
        metric: `ceiling: CPU per 1,000 spawns of ${c.name}`,
        unit: "CPU s",
        runs: c.runs.map((r) => r.cpuSecPer1k),
        note: "that process and its children",
      });
    }
    details.spawnCeiling = ceilings;
    details.executor = runs;
    f.add("executor", {
      metric: `/bin/true, maxUnavailable ${z.maxUnavailable}, ${fmt(z.execN)} requests`,
      unit: "req/s",
      runs: runs.map((r) => r.msgsPerSec),
      higherIsBetter: up,
      note: "first publish → last request done",
    });
    // mandrill starts each child in a new session with posix_spawn itself (no
    // setsid exec), so the ceiling is bare /bin/true; setsid's is the fallback's.
    const ratio = f.add("executor", {
      metric: `ratio to the spawn ceiling of ${bare.name}`,
      unit: "×",
      runs: paired,
      higherIsBetter: up,
      note: `each run / the mean of the ${bare.name} ceiling runs just before and after it`,
    });
    for (const c of ceilings.slice(1)) {
      f.ratio(
        "executor",
        `ratio to the spawn ceiling of ${c.name}`,
        runs.map((r) => r.msgsPerSec),
        c.runs.map((c) => c.spawnsPerSec),
        `each run / median ceiling of ${c.name}`,
      );
    }
    f.goal(ratio, {
      what: `the command executor ≥ ${EXECUTOR_GOAL} × bare Deno spawning /bin/true HOST`,
      target: EXECUTOR_GOAL,
    });
    f.add("executor", {
      metric: "mandrill CPU per 1,000 restarts",
      unit: "CPU s",
      runs: runs.map((r) => r.cpuSecPer1k),
    });
    _executorAccount(f, bare.runs, runs, pairedCeiling);
    f.add("memory", {
      metric: `after ${fmt(z.execN)} restarts VmHWM`,
      unit: "MiB",
      runs: runs.map((r) => mib(r.after.hwm)),
    });
  });

  let fanout: FanoutResult | undefined;
  await attempt("ssh-fanout", async () => {
    fanout = await sshFanoutScenario(ctx, { f, details, notes });
  });
  await attempt("ssh-recovery", () => sshRecoveryScenario(ctx, { f, details, notes }, fanout));
  await attempt("ssh-fanout-x25519", async () => {
    if (ctx.sshOptions.some((o) => /^KexAlgorithms[= ]/i.test(o))) {
      notes.push("ssh-fanout-x25519: skipped: --ssh-option already sets KexAlgorithms.");
      return;
    }
    await sshFanoutScenario(ctx, { f, details, notes }, "ssh-fanout-x25519");
  });

  await attempt("latency", async () => {
    const runs = await repeat(ctx, {
      name: "latency",
      run: () =>
        latencyRun(ctx, { rate: z.latencyRate, durationSec: z.latencySec, stopIfOverloaded: true }),
      describe: (r) => r.kind,
    });
    details.latency = runs;
    _latencyFigures(f, { scenario: "latency", rate: z.latencyRate, sec: z.latencySec, runs });
    const over = runs.filter((r): r is OverloadedRun => r.kind === "overloaded");
    if (over.length > 0) {
      const started = Math.round(median(over.map((r) => r.startedPerSec)));
      notes.push(
        `latency: at ${fmt(z.latencyRate)} requests/s mandrill started only ${fmt(started)} ` +
          "restarts/s, so the queue (and the latency) grows without bound; those runs were " +
          "stopped once 2 s of requests waited. Publish → executor start is measured at " +
          `${fmt(z.sustainedRate)}/s instead (latency-sustained).`,
      );
    }
  });

  await attempt("latency-sustained", async () => {
    const runs = await repeat(ctx, {
      name: "latency-sustained",
      run: () =>
        latencyRun(ctx, {
          rate: z.sustainedRate,
          durationSec: z.sustainedSec,
          stopIfOverloaded: false,
        }),
    });
    details.latencySustained = runs;
    _latencyFigures(f, {
      scenario: "latency-sustained",
      rate: z.sustainedRate,
      sec: z.sustainedSec,
      runs,
    });
  });

  for (const mode of ["announced", "configured"] as const) {
    const sc = `fleet-${mode}`;
    await attempt("fleet", async () => {
      const runs: FleetRun[] = await repeat(ctx, { name: sc, run: () => fleetRun(ctx, mode) });
      details[sc] = runs;
      const consumed = runs.every((r) => r.consumed);
      f.add(sc, {
        metric: `heartbeats from ${fmt(z.fleetHosts)} agents`,
        unit: "hb/s",
        runs: runs.map((r) => r.sentPerSec),
        higherIsBetter: up,
        note: `${z.fleetSec} s, QoS 0; ` + (mode === "announced"
          ? "no hosts configured, fleet.allowAgentHosts"
          : `all ${fmt(z.fleetHosts)} in hosts, agent executor, 100 groups`) +
          (consumed ? "" : "; NOT consumed: mandrill does not subscribe to heartbeats"),
      });
      const tracked = runs.map((r) => r.hostsTracked).filter((n) => n !== undefined);
      if (tracked.length === runs.length) {
        f.add(sc, {
          metric: "hosts in mandrill's fleet view",
          unit: "hosts",
          runs: tracked,
          note: "its fleet_hosts gauge on /metrics",
        });
      }
      const mem = (metric: string, runs: number[], note?: string) =>
        f.add(sc, { metric, unit: "MiB", runs, ...(note ? { note } : {}) });
      mem("VmHWM once started", runs.map((r) => mib(r.idle.hwm)), "config read, before heartbeats");
      f.goal(mem(`VmHWM with ${fmt(z.fleetHosts)} agents`, runs.map((r) => mib(r.after.hwm))), {
        what: `RSS stays under 150 MB (143 MiB) with ${fmt(z.fleetHosts)} hosts heartbeating`,
        target: 150e6 / 2 ** 20,
        worst: true,
      });
      mem("VmRSS after the heartbeats", runs.map((r) => mib(r.after.rss)));
      mem(
        "JavaScript heap in use after",
        runs.map((r) => mib(r.after.heapUsed)),
        "mandrill_heap_used_bytes",
      );
      f.add(sc, {
        metric: "mandrill CPU while heartbeating",
        unit: "cores",
        runs: runs.map((r) => r.cpuCores),
        note: "1 = one full core",
      });
      notes.push(
        `${sc}: mandrill subscribed to ${runs[0]!.subscriptions.join(", ")}; fleet metrics: ${
          runs[0]!.fleetMetrics.join("; ") || "none served"
        }.`,
      );
    }, sc);
  }

  await attempt("rolling", async () => {
    _rolling(
      ctx,
      f,
      details,
      notes,
      await repeat(ctx, {
        name: "rolling",
        run: () =>
          rollingRun(ctx, {
            hosts: z.rollingHosts,
            group: z.rollingGroup,
            procs: z.rollingProcs,
            rebootSec: 2,
            heartbeatSec: 10,
          }),
        describe: (r) =>
          `all back in ${r.allRecoveredSec.toFixed(1)} s, at most ${r.peakDown} down`,
      }),
    );
  });

  await attempt("pg-pipeline", async () => {
    if (postgresBinDir() === undefined) {
      notes.push(
        "pg-pipeline: skipped, PostgreSQL's server is not installed (apt-get install postgresql).",
      );
    } else {
      const one = await repeat(ctx, {
        name: "pg-pipeline, 1 instance",
        run: () => pgPipelineRun(ctx, { count: z.pgN, instances: 1 }),
      });
      const three = await repeat(ctx, {
        name: "pg-pipeline, 3 instances",
        run: () => pgPipelineRun(ctx, { count: z.pgN, instances: 3 }),
      });
      details.pgPipeline = { one, three };
      for (
        const [runs, label] of [[one, "1 instance"], [
          three,
          "3 instances in one shared group",
        ]] as [PgPipelineRun[], string][]
      ) {
        f.add("pg-pipeline", {
          metric: `mandrill run on PostgreSQL, ${label}, dry run, ${fmt(z.pgN)} requests`,
          unit: "msgs/s",
          runs: runs.map((r) => r.msgsPerSec),
          higherIsBetter: up,
          note: "first publish → last request done in the database (PUBACK after each commit)",
        });
        f.add("pg-pipeline", {
          metric: `the same, intake (${label})`,
          unit: "msgs/s",
          runs: runs.map((r) => r.intakePerSec),
          higherIsBetter: up,
          note: "first publish → last row received",
        });
        f.add("pg-pipeline", {
          metric: `CPU per 1,000 requests (${label}, all instances)`,
          unit: "CPU s",
          runs: runs.map((r) => r.cpuSecPer1k),
        });
      }
      f.ratio(
        "pg-pipeline",
        "1 instance ÷ the SQLite pipeline",
        one.map((r) => r.msgsPerSec),
        pipeline.map((r) => r.msgsPerSec),
        "each run / median SQLite pipeline of this bench",
      );
    }
  });

  await attempt("shutdown", async () => {
    const runs: ShutdownRun[] = await repeat(ctx, {
      name: "shutdown",
      run: () => shutdownRun(ctx),
    });
    details.shutdown = runs;
    const bad = runs.find((r) =>
      r.exitCode !== 0 || r.after.pending !== z.shutdownPending || r.after.started !== 0 ||
      r.outcomes.interrupted !== z.shutdownInFlight || r.orphans !== 0
    );
    f.add("shutdown", {
      metric: `SIGTERM → exit, ${fmt(z.shutdownPending)} pending + ${z.shutdownInFlight} running`,
      unit: "ms",
      runs: runs.map((r) => r.exitMs),
      note: bad
        ? `UNEXPECTED: exit ${bad.exitCode}, rows after ${JSON.stringify(bad.after)}, ` +
          `outcomes ${JSON.stringify(bad.outcomes)}, ${bad.orphans} executors left`
        : `graceSec 1; every run: exit 0, ${fmt(z.shutdownPending)} still pending, ` +
          `${z.shutdownInFlight} interrupted, no executor left`,
    });
  });
  return { figures: f.list, goals: f.goals, details, notes, failed };
}

/**
 * Where the machine's CPU goes in the executor scenario, per process, for
 * mandrill's runs and the bare /bin/true ceiling's: the bound of its goal is
 * the machine's CPU (issue 16, item 5). With both cores this busy, 0.8 of the
 * ceiling fits only if mandrill's own CPU per restart is at most the machine's
 * busy CPU per restart at that rate less what everything else took.
 */
function _executorAccount(
  f: Figures,
  ceiling: SpawnCeilingRun[],
  runs: PipelineRun[],
  pairedCeiling: number[],
): void {
  const sc = "executor";
  const cpu = (metric: string, runs: number[], note?: string) =>
    f.add(sc, { metric, unit: "CPU s", runs, ...(note ? { note } : {}) });
  cpu(
    "ceiling: CPU per 1,000 spawns, its /bin/true children alone",
    ceiling.map((r) => r.childrenCpuSecPer1k),
    "the children it waited for",
  );
  cpu(
    "ceiling: whole machine CPU per 1,000 spawns",
    ceiling.map((r) => r.machineCpuSecPer1k),
    "every process, not idle (/proc/stat), over the run",
  );
  f.add(sc, {
    metric: "ceiling: machine busy",
    unit: "cores",
    runs: ceiling.map((r) => r.machineBusyCores),
    note: "of the machine's cores, over the run",
  });
  cpu(
    "CPU per 1,000 restarts: mandrill's /bin/true children",
    runs.map((r) => r.account.children),
    "the children mandrill waited for",
  );
  cpu("CPU per 1,000 restarts: the broker", runs.map((r) => r.account.broker), "Mosquitto");
  cpu(
    "CPU per 1,000 restarts: the publisher",
    runs.map((r) => r.account.publisher),
    "the bench's MQTT.js load generator, its start-up left out",
  );
  cpu(
    "CPU per 1,000 restarts: whole machine",
    runs.map((r) => r.account.machine),
    "every process, not idle (/proc/stat), first publish → last request done",
  );
  f.add(sc, {
    metric: "machine busy during mandrill's runs",
    unit: "cores",
    runs: runs.map((r) => r.machineBusyCores),
    note: "of the machine's cores, first publish → last request done",
  });
  cpu(
    `mandrill CPU per 1,000 restarts that ${EXECUTOR_GOAL} × the ceiling leaves`,
    runs.map((r, i) => {
      const atGoal = (r.machineBusyCores / (EXECUTOR_GOAL * pairedCeiling[i]!)) * 1000;
      return atGoal - (r.account.machine - r.cpuSecPer1k);
    }),
    `busy cores of the run / (${EXECUTOR_GOAL} × its ceiling), less what the rest took per restart`,
  );
}

function _latencyFigures(
  f: Figures,
  o: { scenario: string; rate: number; sec: number; runs: (LatencyRun | OverloadedRun)[] },
): void {
  const measured = o.runs.filter((r): r is LatencyRun => r.kind === "measured");
  const over = o.runs.filter((r): r is OverloadedRun => r.kind === "overloaded");
  if (measured.length > 0) {
    const load = `${fmt(o.rate)}/s for ${o.sec} s`;
    const ms = (metric: string, runs: number[]) => f.add(o.scenario, { metric, unit: "ms", runs });
    ms(`publish → executor start p50 (${load})`, measured.map((r) => r.p50));
    ms("publish → executor start p99", measured.map((r) => r.p99));
    ms("publish → executor start max", measured.map((r) => r.max));
    f.add(o.scenario, {
      metric: "restarts started",
      unit: "req/s",
      runs: measured.map((r) => r.startedPerSec),
      higherIsBetter: true,
      note: `offered ${fmt(o.rate)}/s`,
    });
  }
  if (over.length > 0) {
    const first = over[0]!;
    f.add(o.scenario, {
      metric: `restarts started at ${fmt(o.rate)}/s offered`,
      unit: "req/s",
      runs: over.map((r) => r.startedPerSec),
      higherIsBetter: true,
      note: `OVERLOADED: ${fmt(first.backlog)} waiting after ${first.afterSec.toFixed(0)} s; ` +
        "run stopped, latency unbounded",
    });
  }
}

/** The rolling scenario's figures (issue 16, items 3, 4 and 6). */
function _rolling(
  ctx: BenchContext,
  f: Figures,
  details: Record<string, unknown>,
  notes: string[],
  runs: RollingRun[],
): void {
  const z = ctx.sizes;
  details.rolling = runs;
  const sc = "rolling";
  const label = `${fmt(z.rollingGroup)} of ${fmt(z.rollingHosts)} agents, "10%"`;
  const all = f.add(sc, {
    metric: `all recovered: ${label}, reboot 2 s`,
    unit: "s",
    runs: runs.map((r) => r.allRecoveredSec),
    note: "first request published → last recovered event; real agent code, simulated reboots",
  });
  f.add(sc, {
    metric: "ideal: waves × reboot",
    unit: "s",
    runs: runs.map((r) => r.idealSec),
    note: `${Math.ceil(z.rollingGroup / Math.max(1, Math.floor(z.rollingGroup / 10)))} waves × 2 s`,
  });
  f.ratio(
    sc,
    "ideal / measured",
    runs.map((r) => r.idealSec),
    [all.median],
    "1 = as fast as the waves allow",
  );
  const peak = f.add(sc, {
    metric: "most hosts of the group down at once",
    unit: "hosts",
    runs: runs.map((r) => r.peakDown),
    note: `from the hosts' own side; the budget is ${runs[0]?.budget}`,
  });
  f.goal(peak, {
    what: "never more than 10% of the group down",
    target: runs[0]?.budget ?? 0,
    worst: true,
  });
  f.add(sc, {
    metric: "a host's reboot, from its own side (p50)",
    unit: "ms",
    runs: runs.map((r) => r.answerToRecoveredMs),
    note: "mandrill's answer → recovered; the simulated reboot is 2 s",
  });
  f.add(sc, {
    metric: "start → the agent's answer (p50)",
    unit: "ms",
    runs: runs.map((r) => r.startToAnswerMs),
  });
  f.add(sc, {
    metric: "mandrill CPU during the rolling restart",
    unit: "cores",
    runs: runs.map((r) => r.cpuCores),
    note: "1 = one full core",
  });
  f.add(sc, {
    metric: `VmHWM with ${fmt(z.rollingHosts)} agent hosts configured`,
    unit: "MiB",
    runs: runs.map((r) => mib(r.hwm)),
  });
  f.add(sc, {
    metric: `/api/status with ${fmt(z.rollingHosts)} hosts, p50`,
    unit: "ms",
    runs: runs.map((r) => r.statusP50Ms),
    note: `50 GETs in a row; ${fmt(Math.round((runs[0]?.statusBytes ?? 0) / 1024))} KiB`,
  });
  f.add(sc, { metric: "/api/status p99", unit: "ms", runs: runs.map((r) => r.statusP99Ms) });
  const sse = f.add(sc, {
    metric: "status feed updates per second to one client (max in any second)",
    unit: "updates/s",
    runs: runs.map((r) => r.sseMaxPerSec),
    note: "coalesced while 100 hosts change state every 2 s",
  });
  f.goal(sse, {
    what: "the feed sends no more than a few updates a second",
    target: 5,
    worst: true,
  });
  const page = runs.map((r) => r.pageFirstRenderMs).filter((v) => v !== undefined);
  if (page.length === runs.length) {
    f.add(sc, {
      metric: `status page first render with ${fmt(z.rollingHosts)} hosts (headless Chromium)`,
      unit: "ms",
      runs: page,
      note: "navigation → first data rendered",
    });
  } else {notes.push(`rolling: the status page's render was not measured: ${
      runs.find((r) => r.pageSkipped)?.pageSkipped
    }`);}
  const failed = runs.reduce((n, r) => n + r.failed, 0);
  if (failed > 0) notes.push(`rolling: ${failed} requests did not end succeeded then recovered`);
}
