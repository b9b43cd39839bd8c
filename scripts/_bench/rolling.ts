/**
 * Rolling restart through agents at fleet scale (issue 16, items 3, 4, 6):
 * `hosts` simulated hosts running the real agent code (`rolling_fleet.ts`,
 * a few processes with many agents each, a simulated reboot of `rebootSec`),
 * one group of `group` hosts requested at once with
 * `maxUnavailablePerGroup: "10%"`. Measured: time until all of them are
 * `recovered` against the ideal (waves × reboot), the most hosts down at
 * once (from the hosts' own side), mandrill's CPU and memory meanwhile; and,
 * with those hosts, `/api/status` latency, the status feed's update rate per
 * client, and the page's first render in headless Chromium.
 * @module
 */
import { connectClient } from "../../tests/_helpers/mqtt.ts";
import { freePort } from "../../tests/_helpers/wait.ts";
import { peakDown } from "../../tests/_helpers/spans.ts";
import { generateKeyPair } from "../../src/security/mod.ts";
import type { ConfigInput } from "../../src/config/mod.ts";
import type { BenchContext } from "./context.ts";
import { BenchProcess, readCpuSeconds, readMemory, ROOT, waitUntil } from "./proc.ts";
import type { RollingFleetArgs, RollingFleetResult } from "./rolling_fleet.ts";
import { percentile } from "./stats.ts";
import denoJson from "../../deno.json" with { type: "json" };

/** The V8 flags the shipped binary is compiled with: measure what ships. */
const V8_FLAGS = denoJson.tasks.compile.split(/\s+/).filter((a) => a.startsWith("--v8-flags="));

/** Sizes of one rolling run. */
export interface RollingOptions {
  /** Simulated hosts in all (each with its agent). */
  hosts: number;
  /** Hosts of the group restarted (the first `group` hosts). */
  group: number;
  /** Processes the hosts are spread over. */
  procs: number;
  /** Seconds a simulated reboot takes. */
  rebootSec: number;
  /** Seconds between each agent's heartbeats. */
  heartbeatSec: number;
}

/** One rolling run. */
export interface RollingRun {
  /** First request published → last `recovered` event, s. */
  allRecoveredSec: number;
  /** waves × rebootSec, s. */
  idealSec: number;
  /** The group's budget (10% of `group`). */
  budget: number;
  /** Most hosts of the group down at once, from their own side. */
  peakDown: number;
  /** Restart commands the agents ran (should be `group`). */
  restarts: number;
  /** Requests that did not end `succeeded` then `recovered`. */
  failed: number;
  /** Share of one core mandrill used during the rolling restart. */
  cpuCores: number;
  /** mandrill's peak and current RSS after it, bytes. */
  hwm: number;
  rss: number;
  /** `/api/status` with all hosts: p50 and p99 over `samples` sequential GETs, ms. */
  statusP50Ms: number;
  statusP99Ms: number;
  statusBytes: number;
  /** Status feed (SSE) updates one client received per second during the rolling restart: mean and max. */
  sseMeanPerSec: number;
  sseMaxPerSec: number;
  /** Status page: navigation → first render with data, ms (undefined without Chromium). */
  pageFirstRenderMs: number | undefined;
  pageSkipped?: string;
  /** Where a wave's time goes, p50 ms: start → the agent's answer, answer → recovered, last recovery of a wave → the next start. */
  startToAnswerMs: number;
  answerToRecoveredMs: number;
  recoveredToNextStartMs: number;
}

const host = (i: number) => `a-${String(i).padStart(5, "0")}`;

/** See the module doc. */
export async function rollingRun(ctx: BenchContext, o: RollingOptions): Promise<RollingRun> {
  const prefix = ctx.prefix("rolling");
  const dir = await Deno.makeTempDir({ prefix: "mandrill-bench-rolling-" });
  try {
    const { privatePem, publicPem } = await generateKeyPair();
    await Deno.writeTextFile(`${dir}/command.key`, privatePem, { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/command.pub`, publicPem);

    // The fleet, a few processes with many agents each.
    const names = Array.from({ length: o.hosts }, (_, i) => host(i));
    const per = Math.ceil(o.hosts / o.procs);
    ctx.progress(`rolling: starting ${o.hosts} agents in ${o.procs} processes`);
    const fleets = Array.from({ length: o.procs }, (_, p) => {
      const args: RollingFleetArgs = {
        url: ctx.broker.url,
        prefix,
        hosts: names.slice(p * per, (p + 1) * per),
        dir: `${dir}/fleet-${p}`,
        heartbeatSec: o.heartbeatSec,
        rebootSec: o.rebootSec,
        pubFile: `${dir}/command.pub`,
      };
      return BenchProcess.deno(`${ROOT}scripts/_bench/rolling_fleet.ts`, [JSON.stringify(args)]);
    });
    try {
      const tFleet = performance.now();
      await Promise.all(fleets.map((f) => f.waitForStdout(/^READY$/, 180_000)));
      ctx.progress(
        `rolling: ${o.hosts} agents connected in ${
          ((performance.now() - tFleet) / 1000).toFixed(1)
        } s`,
      );

      // mandrill: every host has an agent; the first `group` hosts are group "roll".
      const port = freePort();
      const config: ConfigInput = {
        mqtt: { url: ctx.broker.url, topicPrefix: prefix, clientId: `mandrill-${prefix}` },
        store: { path: `${dir}/mandrill.db` },
        http: { listen: `127.0.0.1:${port}` },
        security: { commandKeyFile: `${dir}/command.key` },
        executors: {
          agent: { type: "agent", timeoutSec: 60, staleSec: Math.max(30, 3 * o.heartbeatSec) },
        },
        hosts: Object.fromEntries(
          names.map((h, i) => [h, {
            executor: "agent",
            group: i < o.group ? "roll" : `g-${Math.floor(i / o.group)}`,
          }]),
        ),
        policy: {
          maxUnavailable: o.hosts,
          maxUnavailablePerGroup: "10%",
          minIntervalSec: 0,
          maxPerHour: 10_000_000,
          breaker: null,
        },
        recovery: { probeIntervalSec: 0.5, timeoutSec: 120 },
        log: { level: "warning", format: "json" },
      };
      await Deno.writeTextFile(`${dir}/mandrill.json`, JSON.stringify(config));
      await using m = BenchProcess.deno(`${ROOT}main.ts`, [
        "run",
        "--config",
        `${dir}/mandrill.json`,
      ], { denoFlags: V8_FLAGS });
      const scrape = async () => await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      /** Unavailable hosts in all, and by state where any are, from a scrape. */
      const unavailable = (text: string) => {
        const states = [
          ...text.matchAll(/^mandrill_hosts_unavailable\{state="([^"]*)"\} (\S+)$/gm),
        ].filter((m) => Number(m[2]) > 0);
        return {
          n: states.reduce((n, m) => n + Number(m[2]), 0),
          states: states.map((m) => `${m[1]} ${m[2]}`).join(", "),
        };
      };
      const metric = (text: string, name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
      // Heard by heartbeat, not only by retained status: none counts as stale.
      // What is still missing is reported every 15 s and in the timeout's error.
      const tHear = performance.now();
      let state = "nothing read yet";
      let reported = tHear;
      let done = false;
      try {
        await waitUntil(async () => {
          if (m.status) throw new Error(`mandrill exited (${m.status.code})${m.tail()}`);
          try {
            const text = await scrape();
            const heard = metric(text, "mandrill_fleet_hosts");
            const { n: down, states } = unavailable(text);
            const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(async (r) =>
              `${r.status} ${(await r.text()).slice(0, 200)}`
            );
            state = `fleet_hosts ${heard}, unavailable ${down}${
              states ? ` (${states})` : ""
            }, readyz ${ready.slice(0, 3)}`;
            done = heard >= o.hosts && down === 0 && ready.startsWith("200");
          } catch (err) {
            state = `not answering: ${(err as Error).message}`;
          }
          if (performance.now() - reported > 15_000) {
            reported = performance.now();
            ctx.progress(`rolling: waiting for mandrill to hear all agents: ${state}`);
          }
          return done;
        }, { timeoutMs: 300_000, what: `mandrill to hear all ${o.hosts} agents` });
      } catch (err) {
        throw new Error(`${(err as Error).message}; last seen: ${state}${m.tail()}`);
      }
      ctx.progress(
        `rolling: mandrill heard all ${o.hosts} agents ${
          ((performance.now() - tHear) / 1000).toFixed(1)
        } s after it started`,
      );

      // Status at scale, before the restart (every host up).
      const latencies: number[] = [];
      let statusBytes = 0;
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        const body = await (await fetch(`http://127.0.0.1:${port}/api/status`)).text();
        latencies.push(performance.now() - t0);
        statusBytes = body.length;
      }
      latencies.sort((a, b) => a - b);

      // One SSE client for the length of the rolling restart.
      const sse = new AbortController();
      const updates: number[] = [];
      const feed = (async () => {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/api/events`, { signal: sse.signal });
          const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
          while (true) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const _ of value.matchAll(/^event: status$/gm)) updates.push(performance.now());
          }
        } catch { /* aborted */ }
      })();

      // The rolling restart: the whole group at once.
      await using events = await connectClient(ctx.broker.url);
      const recovered = new Set<string>();
      const failed = new Set<string>();
      /** How the first few that did not recover ended: id, host, phase, reason. */
      const failures: string[] = [];
      let lastRecoveredAt = 0;
      const at = {
        started: new Map<string, number>(),
        succeeded: new Map<string, number>(),
        recovered: new Map<string, number>(),
      };
      events.on("message", (_t, payload) => {
        const e = JSON.parse(new TextDecoder().decode(payload));
        if (!String(e.id).startsWith("roll-")) return;
        if (e.phase in at) at[e.phase as keyof typeof at].set(e.id, e.ts);
        if (e.phase === "recovered") {
          recovered.add(e.id);
          lastRecoveredAt = performance.now();
        } else if (["failed", "skipped", "rejected", "interrupted"].includes(e.phase)) {
          failed.add(e.id);
          if (failures.length < 5) {
            failures.push(`${e.id} (${e.host}) ${e.phase}: ${e.detail ?? "no detail"}`);
          }
        }
      });
      await events.subscribeAsync(`${prefix}/events`, { qos: 1 });
      await using pub = await connectClient(ctx.broker.url);
      ctx.progress(`rolling: restarting ${o.group} hosts, 10% at a time`);
      const cpu0 = readCpuSeconds(m.pid);
      const t0 = performance.now();
      await Promise.all(
        names.slice(0, o.group).map((h, i) =>
          pub.publishAsync(`${prefix}/restart`, JSON.stringify({ id: `roll-${i}`, host: h }), {
            qos: 1,
          })
        ),
      );
      await waitUntil(() => recovered.size + failed.size >= o.group, {
        timeoutMs: 600_000,
        intervalMs: 100,
        what: `${o.group} hosts recovered (have ${recovered.size}, ${failed.size} failed)`,
      });
      const wallSec = (lastRecoveredAt - t0) / 1000;
      const cpuCores = (readCpuSeconds(m.pid) - cpu0) / ((performance.now() - t0) / 1000);
      const mem = readMemory(m.pid);
      sse.abort();
      await feed;
      const perSecond = new Map<number, number>();
      for (const at of updates.filter((at) => at >= t0)) {
        const s = Math.floor((at - t0) / 1000);
        perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
      }
      const seconds = Math.max(1, Math.ceil((performance.now() - t0) / 1000));

      // The page, with all hosts (Chromium where installed).
      let pageFirstRenderMs: number | undefined;
      let pageSkipped: string | undefined;
      try {
        const { Chromium } = await import("../../tests/_helpers/browser.ts");
        await using browser = await Chromium.launch();
        const { page } = await browser.page();
        const started = performance.now();
        await page.goto(`http://127.0.0.1:${port}/`);
        await page.waitForFunction(
          () =>
            Number(
              (globalThis as unknown as { document: { body: { getAttribute(n: string): string } } })
                .document.body.getAttribute("data-updates"),
            ) >= 1,
          { timeout: 60_000, polling: 50 },
        );
        pageFirstRenderMs = performance.now() - started;
      } catch (err) {
        pageSkipped = (err as Error).message.split("\n")[0];
      }

      m.kill("SIGTERM");
      await m.exited();
      for (const f of fleets) f.kill("SIGTERM");
      const results = await Promise.all(fleets.map((f) => f.json<RollingFleetResult>(120_000)));
      const groupHosts = new Set(names.slice(0, o.group));
      const spans = results.flatMap((r) =>
        Object.entries(r.spans).filter(([h]) => groupHosts.has(h)).flatMap(([, s]) => s)
      );
      const budget = Math.max(1, Math.floor(o.group / 10));
      const p50 = (xs: number[]) => percentile(xs.sort((a, b) => a - b), 50);
      const diffs = (from: Map<string, number>, to: Map<string, number>) =>
        [...to].flatMap(([id, t]) => from.has(id) ? [t - from.get(id)!] : []);
      const recoveries = [...at.recovered.values()].sort((a, b) => a - b);
      const starts = [...at.started.values()].sort((a, b) => a - b);
      const perSec = new Map<number, number>();
      for (const s of starts) {
        perSec.set(
          Math.floor((s - starts[0]!) / 1000),
          (perSec.get(Math.floor((s - starts[0]!) / 1000)) ?? 0) + 1,
        );
      }
      const a2r = diffs(at.succeeded, at.recovered).sort((a, b) => a - b);
      const downMs = spans.filter((s) => s.to !== undefined).map((s) => s.to! - s.from).sort((
        a,
        b,
      ) => a - b);
      ctx.progress(
        `rolling: answer→recovered p50 ${percentile(a2r, 50)} p90 ${percentile(a2r, 90)} max ${
          a2r.at(-1)
        } ms; down (hosts' side) p50 ${percentile(downMs, 50)} p90 ${percentile(downMs, 90)} max ${
          downMs.at(-1)
        } ms`,
      );
      if (failures.length > 0) {
        ctx.progress(`rolling: ${failed.size} did not recover, e.g. ${failures.join("; ")}`);
      }
      ctx.progress(
        `rolling: starts per second: ${[...perSec].map(([s, n]) => `${s}:${n}`).join(" ")}`,
      );
      // For each start after the first wave: how long after the recovery that made room.
      const gaps = starts.slice(budget).map((s) => {
        const before = recoveries.filter((r) => r <= s);
        return before.length ? s - before[before.length - 1]! : 0;
      });
      return {
        allRecoveredSec: wallSec,
        idealSec: Math.ceil(o.group / budget) * o.rebootSec,
        budget,
        peakDown: peakDown(spans),
        restarts: results.reduce((n, r) => n + r.restarts, 0),
        failed: failed.size,
        cpuCores,
        hwm: mem.hwm,
        rss: mem.rss,
        statusP50Ms: percentile(latencies, 50),
        statusP99Ms: percentile(latencies, 99),
        statusBytes,
        sseMeanPerSec: (perSecond.size === 0 ? 0 : [...perSecond.values()].reduce((a, b) =>
          a + b
        )) /
          seconds,
        sseMaxPerSec: Math.max(0, ...perSecond.values()),
        pageFirstRenderMs,
        ...(pageSkipped ? { pageSkipped } : {}),
        startToAnswerMs: p50(diffs(at.started, at.succeeded)),
        answerToRecoveredMs: p50(diffs(at.succeeded, at.recovered)),
        recoveredToNextStartMs: p50(gaps),
      };
    } finally {
      for (const f of fleets) await f[Symbol.asyncDispose]();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
