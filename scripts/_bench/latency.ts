/**
 * Latency scenario: a steady rate of restart requests for a while; for each,
 * the time from the publisher's send to the start of its executor — a command
 * that appends `MANDRILL_REQUEST_ID` and its start time (µs; a tiny C program, or bash) to a
 * file (one process per restart, where `date +%s%N` would fork a second one).
 *
 * When mandrill cannot start restarts as fast as they come, latency is only
 * the queue growing: with `stopIfOverloaded`, the run stops as soon as the
 * backlog exceeds two seconds of requests and reports the rate it managed.
 * @module
 */
import type { BenchContext } from "./context.ts";
import { SCRIPTS } from "./context.ts";
import { BenchMandrill } from "./mandrill.ts";
import { BenchProcess, epochMs } from "./proc.ts";
import type { PublisherArgs, PublisherResult } from "./publisher.ts";
import { percentile } from "./stats.ts";

/** One latency run that kept up; times in ms. */
export interface LatencyRun {
  kind: "measured";
  p50: number;
  p99: number;
  max: number;
  /** Requests per second actually sent. */
  sentPerSec: number;
  /** Restarts started per second, first send to last start. */
  startedPerSec: number;
  count: number;
}

/** A run stopped because restarts fell behind the offered rate. */
export interface OverloadedRun {
  kind: "overloaded";
  /** Restarts started per second while requests came at `offered` per second. */
  startedPerSec: number;
  offered: number;
  /** Requests waiting when the run was stopped, and after how many seconds. */
  backlog: number;
  afterSec: number;
}

/** Options of {@linkcode latencyRun}. */
export interface LatencyRunOptions {
  /** Requests per second. */
  rate: number;
  /** Seconds of load. */
  durationSec: number;
  /** Stop early, reporting {@linkcode OverloadedRun}, when the backlog passes 2 s of requests. */
  stopIfOverloaded: boolean;
}

/** Steady `rate` requests/s for `durationSec`, publish → executor start. */
export async function latencyRun(
  ctx: BenchContext,
  options: LatencyRunOptions,
): Promise<LatencyRun | OverloadedRun> {
  const { rate: latencyRate, durationSec: latencySec } = options;
  const { hosts, maxUnavailable } = ctx.sizes;
  const count = latencyRate * latencySec;
  const prefix = ctx.prefix("latency");
  const dir = await Deno.makeTempDir({ prefix: "mandrill-bench-lat-" });
  try {
    const startsFile = `${dir}/starts.txt`;
    const sendsFile = `${dir}/sends.txt`;
    await using m = await BenchMandrill.start({
      url: ctx.broker.url,
      prefix,
      hosts,
      argv: await _stampArgv(dir, startsFile),
      policy: { maxUnavailable, maxUnavailablePerGroup: maxUnavailable },
    });
    const args: PublisherArgs = {
      mode: "rate",
      url: ctx.broker.url,
      prefix,
      count,
      hosts,
      idPrefix: "l-",
      rate: latencyRate,
      sendsFile,
    };
    await using pub = BenchProcess.deno(SCRIPTS.publisher, [JSON.stringify(args)]);
    const result = pub.json<PublisherResult>((latencySec + 120) * 1000);
    if (options.stopIfOverloaded) {
      const overload = await _watchBacklog(m, pub, options, result);
      if (overload) {
        // Leave the rest of the queue: disposal kills mandrill and the publisher.
        result.catch(() => {});
        return overload;
      }
    }
    const p = await result;
    if (p.errors > 0) throw new Error(`latency: ${p.errors} publishes failed`);
    await m.waitDone("l-", count, 600_000);
    const outcomes = m.outcomes("l-");
    if (outcomes.succeeded !== count) {
      throw new Error(`latency: expected ${count} succeeded, got ${JSON.stringify(outcomes)}`);
    }
    const stopped = await m.stop();
    if (stopped.code !== 0) {
      throw new Error(`latency: mandrill exited with ${stopped.code} on SIGTERM${m.proc.tail()}`);
    }
    await ctx.checkBroker("latency");

    const sends = new Map<string, number>();
    for (const line of (await Deno.readTextFile(sendsFile)).split("\n")) {
      const [id, t] = line.split(" ");
      if (id && t) sends.set(id, Number(t));
    }
    const latencies: number[] = [];
    let lastStart = 0;
    for (const line of (await Deno.readTextFile(startsFile)).split("\n")) {
      const [id, t] = line.split(" ");
      if (!id || !t) continue;
      const startMs = Number(t) * 1000;
      const sent = sends.get(id);
      if (sent === undefined) throw new Error(`latency: executor ran unknown id ${id}`);
      latencies.push(startMs - sent);
      lastStart = Math.max(lastStart, startMs);
    }
    if (latencies.length !== count) {
      throw new Error(`latency: ${latencies.length} executor starts recorded, expected ${count}`);
    }
    latencies.sort((a, b) => a - b);
    return {
      kind: "measured",
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1]!,
      sentPerSec: count / ((p.lastSendAt - p.firstSendAt) / 1000),
      startedPerSec: count / ((lastStart - p.firstSendAt) / 1000),
      count,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Polls the store once a second while the publisher runs; returns an
 * {@linkcode OverloadedRun} once more than two seconds of requests wait
 * (checked from the fourth second of load on), or undefined if it kept up.
 */
async function _watchBacklog(
  m: BenchMandrill,
  pub: BenchProcess,
  options: LatencyRunOptions,
  published: Promise<unknown>,
): Promise<OverloadedRun | undefined> {
  const { rate, durationSec } = options;
  let finished = false;
  published.then(() => finished = true, () => finished = true);
  const first = Number((await pub.waitForStdout(/^FIRST /, 30_000)).split(" ")[1]);
  while (!finished) {
    await new Promise((r) => setTimeout(r, 1000));
    const elapsed = (epochMs() - first) / 1000;
    if (elapsed < Math.min(4, durationSec * 0.8)) continue;
    const started = m.startedCount("l-");
    const sent = Math.min(rate * durationSec, rate * elapsed);
    if (sent - started > 2 * rate) {
      return {
        kind: "overloaded",
        startedPerSec: started / elapsed,
        offered: rate,
        backlog: Math.round(sent - started),
        afterSec: elapsed,
      };
    }
  }
  return undefined;
}

/**
 * The executor that records when it started: a tiny C program where a C
 * compiler is at hand (one exec, about a tenth of bash's start-up), else bash.
 * Either appends "MANDRILL_REQUEST_ID epoch-seconds.micros" to `file`.
 */
async function _stampArgv(dir: string, file: string): Promise<string[]> {
  const src = `${dir}/stamp.c`;
  const bin = `${dir}/stamp`;
  await Deno.writeTextFile(
    src,
    `#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
int main(void) {
  struct timeval tv; gettimeofday(&tv, 0);
  const char *id = getenv("MANDRILL_REQUEST_ID");
  FILE *f = fopen("${file}", "a");
  if (!f || !id) return 1;
  fprintf(f, "%s %ld.%06ld\\n", id, (long)tv.tv_sec, (long)tv.tv_usec);
  return fclose(f) != 0;
}
`,
  );
  try {
    const cc = await new Deno.Command("cc", {
      args: ["-O2", "-o", bin, src],
      stdout: "null",
      stderr: "null",
    })
      .output();
    if (cc.success) return [bin];
  } catch {
    // no compiler: fall back to bash
  }
  // The host name is appended: it becomes $0 of the script.
  return [
    "/bin/bash",
    "-c",
    `printf '%s %s\\n' "$MANDRILL_REQUEST_ID" "$EPOCHREALTIME" >> '${file}'`,
  ];
}
