// deno-lint-ignore-file no-console
/**
 * `deno task bench` (issue #7): throughput, latency, memory and shutdown of
 * `mandrill run` against a real Mosquitto on an ephemeral port, next to the
 * ceiling of a bare MQTT.js subscriber. Prints a Markdown table and writes
 * bench/results.json and bench/results.md. `--profile` instead runs the
 * pipeline (or, with `--only executor`, the executor scenario) once under
 * `--cpu-prof` and writes bench/profile.md (profile-executor.md).
 * @module
 */
import { parseArgs } from "node:util";
import { DropWatcher, startBroker } from "./_bench/broker.ts";
import { BenchContext, FULL, QUICK, type Sizes } from "./_bench/context.ts";
import { ROOT } from "./_bench/proc.ts";
import { type CpuProfile, summarize, toMarkdown } from "./_bench/profile_summary.ts";
import { figuresTable, goalsList, type Results, resultsMarkdown } from "./_bench/report.ts";
import { runScenarios, type Scenario, SCENARIOS } from "./_bench/scenarios.ts";
import { codeFingerprint, gitState, machineInfo } from "./_bench/sysinfo.ts";
import { pipelineRun } from "./_bench/throughput.ts";

const USAGE = `Usage: deno task bench [options]

Starts Mosquitto on an ephemeral port and measures mandrill: ceiling (bare
subscriber), pipeline (dry run), executor (/bin/true), ssh fanout (one real
sshd, 200 hosts, against xargs -P, Ansible and pssh; again with every tool on
the X25519 key exchange), ssh recovery (hosts that come back on a new boot
id), latency (publish → executor start), memory with a simulated fleet, and
shutdown.

Options:
  --quick              Shorter scenarios for a smoke run (N 5,000, 5 s loads)
  --runs N             Runs per scenario; figures are medians (default 3)
  --only A,B           Only these scenarios: ${SCENARIOS.join(", ")}
  --latency-rate R     Requests/s of the latency scenario (default ${FULL.latencyRate})
  --sustained-rate R   Requests/s of the latency-sustained scenario (default ${FULL.sustainedRate})
  --n N                Requests of the ceiling and pipeline scenarios (default ${FULL.n})
  --ssh-option K=V     An ssh option for every tool of the ssh scenarios (repeatable),
                       e.g. KexAlgorithms=curve25519-sha256 (default: OpenSSH's own)
  --out DIR            Where results go (default bench/)
  --profile            Profile the pipeline once (deno --cpu-prof) and summarize it
                       into DIR/profile.md instead of running the scenarios;
                       with --only executor, the executor scenario (profile-executor.md)
  -h, --help           Show this help`;

function _int(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`--${name}: expected a positive integer, got "${v}"`);
  }
  return n;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        quick: { type: "boolean" },
        runs: { type: "string" },
        only: { type: "string" },
        "latency-rate": { type: "string" },
        "sustained-rate": { type: "string" },
        n: { type: "string" },
        "ssh-option": { type: "string", multiple: true },
        out: { type: "string" },
        profile: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const base = values.quick ? QUICK : FULL;
  let sizes: Sizes;
  let runs: number;
  let selected: Set<Scenario>;
  try {
    sizes = {
      ...base,
      n: _int("n", values.n, base.n),
      latencyRate: _int("latency-rate", values["latency-rate"], base.latencyRate),
      sustainedRate: _int("sustained-rate", values["sustained-rate"], base.sustainedRate),
    };
    runs = _int("runs", values.runs, 3);
    const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = only?.filter((s) => !(SCENARIOS as readonly string[]).includes(s)) ?? [];
    if (unknown.length) throw new RangeError(`--only: unknown scenario ${unknown.join(", ")}`);
    selected = new Set((only ?? SCENARIOS) as Scenario[]);
    for (const o of values["ssh-option"] ?? []) {
      if (!/^[A-Za-z][A-Za-z0-9]*=\S+$/.test(o)) {
        throw new RangeError(`--ssh-option: expected Key=Value, got "${o}"`);
      }
    }
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const out = values.out ?? `${ROOT}bench`;
  await Deno.mkdir(out, { recursive: true });

  const t0 = performance.now();
  const machine = await machineInfo();
  const codeAtStart = await codeFingerprint(ROOT);
  await using broker = await startBroker();
  await using drops = await DropWatcher.start(broker);
  const sshOptions = values["ssh-option"] ?? [];
  const ctx = new BenchContext(broker, sizes, runs, { sshOptions });
  ctx.progress(
    `broker ${broker.url}; ${machine.cores} cores, load ${machine.loadAverage.join(" ")}`,
  );

  if (values.profile) {
    const which = selected.size === 1 && selected.has("executor") ? "executor" : "pipeline";
    const md = await _profile(ctx, { which, out, date: machine.date });
    console.log(md);
    return 0;
  }

  // Other work on the machine makes the figures noisy: note how busy it got.
  let peakLoad = machine.loadAverage[0] ?? 0;
  const sampler = setInterval(() => peakLoad = Math.max(peakLoad, Deno.loadavg()[0] ?? 0), 5_000);
  let scenarioResults;
  try {
    scenarioResults = await runScenarios(ctx, selected);
  } finally {
    clearInterval(sampler);
  }
  const { figures, goals, details, notes, failed } = scenarioResults;
  notes.push(
    `Machine load: the 1-minute load average was ${machine.loadAverage[0]?.toFixed(2)} at the ` +
      `start, peaked at ${peakLoad.toFixed(2)} (sampled every 5 s) and was ` +
      `${Deno.loadavg()[0]?.toFixed(2)} at the end, on ${machine.cores} cores.`,
  );
  const dropped = await drops.settled();
  const gitAtEnd = await gitState();
  if (await codeFingerprint(ROOT) !== codeAtStart) {
    notes.push(
      `Code changed during the run (HEAD ${machine.git.commit} at start, ${gitAtEnd.commit} at ` +
        "the end): later scenarios measured newer code than earlier ones.",
    );
  }
  notes.push(
    dropped === undefined
      ? "Broker check: Mosquitto's log shows no dropped messages after any scenario " +
        "($SYS/broker/publish/messages/dropped was never published)."
      : `Broker check: Mosquitto's log shows no dropped messages after any scenario, and ` +
        `$SYS/broker/publish/messages/dropped is ${dropped}.`,
  );
  const results: Results = {
    machine,
    settings: {
      quick: values.quick ?? false,
      runs,
      scenarios: [...selected],
      sizes,
      ...(sshOptions.length ? { sshOptions } : {}),
    },
    figures,
    goals,
    details,
    notes,
    durationSec: (performance.now() - t0) / 1000,
  };
  await Deno.writeTextFile(`${out}/results.json`, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(`${out}/results.md`, resultsMarkdown(results));
  await _fmt(`${out}/results.md`);
  console.log(figuresTable(figures));
  console.log("");
  if (goals.length) console.log(`${goalsList(goals)}\n`);
  for (const n of notes) console.log(`- ${n}`);
  ctx.progress(
    `done in ${results.durationSec.toFixed(0)} s; wrote ${out}/results.json and results.md`,
  );
  if (failed.length > 0) {
    console.error(`bench: ${failed.length} scenarios failed: ${failed.join(", ")} (see the notes)`);
    return 1;
  }
  return 0;
}

/**
 * Runs the pipeline (dry run) or executor scenario once with mandrill under
 * `deno run --cpu-prof` and writes the summary to DIR/profile.md (or
 * profile-executor.md); the raw profile stays in DIR/profiles/.
 */
async function _profile(
  ctx: BenchContext,
  o: { which: "pipeline" | "executor"; out: string; date: string },
): Promise<string> {
  const dir = `${o.out}/profiles`;
  await Deno.mkdir(dir, { recursive: true });
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(`${o.which}-`)) {
      await Deno.remove(`${dir}/${e.name}`, { recursive: true });
    }
  }
  const runDir = await Deno.makeTempDir({ dir, prefix: `${o.which}-` });
  const dryRun = o.which === "pipeline";
  const count = dryRun ? ctx.sizes.n : ctx.sizes.execN;
  const r = await pipelineRun(ctx, { dryRun, count, cpuProfDir: runDir });
  // The main thread's profile; worker threads (the spawner's) write `*.worker-N.cpuprofile`.
  const main = r.profiles.filter((f) => !/\.worker-\d+\.cpuprofile$/.test(f));
  if (main.length !== 1) {
    throw new Error(`expected one main-thread .cpuprofile in ${runDir}, found ${main.length}`);
  }
  const workers = r.profiles.length - 1;
  const profile = JSON.parse(await Deno.readTextFile(main[0]!)) as CpuProfile;
  const what = dryRun ? "dry run" : "`/bin/true` executor";
  const flag = dryRun ? "" : " --only executor";
  const md = [
    `# mandrill ${o.which} CPU profile`,
    "",
    `\`deno task bench --profile${flag}\` on ${o.date}: \`mandrill run\` (${what}) under ` +
    `\`deno run --cpu-prof\`, ${count.toLocaleString("en-US")} requests at ` +
    `${Math.round(r.msgsPerSec).toLocaleString("en-US")}/s (profiling slows it a little), ` +
    `sampled from start to SIGTERM. Main thread only` +
    (workers ? ` (the ${workers} spawner worker threads have profiles of their own)` : "") +
    `. Raw profile: \`${main[0]!.replace(ROOT, "")}\` ` +
    "(open it in Chrome DevTools → Performance, or `deno run -A " +
    "scripts/_bench/profile_summary.ts FILE`).",
    "",
    toMarkdown(summarize(profile), 30),
  ].join("\n");
  const file = `${o.out}/profile${dryRun ? "" : "-executor"}.md`;
  await Deno.writeTextFile(file, md);
  await _fmt(file);
  return md;
}

/** Formats a Markdown result file as `deno fmt` wants it, so `deno task check` stays green. */
async function _fmt(file: string): Promise<void> {
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", file], cwd: ROOT }).output();
}

if (import.meta.main) {
  Deno.exit(await main());
}
