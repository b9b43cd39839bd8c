/**
 * The pipeline on a shared PostgreSQL store (issue 15): `instances` ×
 * `mandrill run` in one shared group on one database (a real PostgreSQL
 * started by the bench, as the tests do), a dry-run burst of `count`
 * requests: first publish → last request done in the database, and each
 * instance's CPU. Same publisher and hosts as the SQLite pipeline scenario,
 * so the two compare.
 * @module
 */
import pg from "pg";
import { Postgres } from "../../tests/_helpers/postgres.ts";
import type { ConfigInput } from "../../src/config/mod.ts";
import type { BenchContext } from "./context.ts";
import { BenchProcess, readCpuSeconds, ROOT, waitUntil } from "./proc.ts";
import type { PublisherResult } from "./publisher.ts";
import { burst } from "./throughput.ts";

/** One run on PostgreSQL. */
export interface PgPipelineRun {
  /** count / (last finished_at − first send). */
  msgsPerSec: number;
  /** count / (last received_at − first send): intake, PUBACK after the commit. */
  intakePerSec: number;
  /** CPU seconds per 1,000 requests, all instances together. */
  cpuSecPer1k: number;
  instances: number;
}

/** See the module doc. Throws when PostgreSQL's server binaries are not installed. */
export async function pgPipelineRun(
  ctx: BenchContext,
  o: { count: number; instances: number },
): Promise<PgPipelineRun> {
  await using server = await Postgres.start();
  const prefix = ctx.prefix("pg");
  const url = await server.createDatabase(prefix.replaceAll("-", "_"));
  const dir = await Deno.makeTempDir({ prefix: "mandrill-bench-pg-" });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const runs: BenchProcess[] = [];
  try {
    for (let i = 0; i < o.instances; i++) {
      const config: ConfigInput = {
        mqtt: {
          url: ctx.broker.url,
          topicPrefix: prefix,
          clientId: `mandrill-${prefix}-${i}`,
          sharedGroup: "bench",
        },
        store: { url },
        http: { listen: null },
        executors: { local: { type: "command", argv: ["/bin/true"] } },
        hosts: Object.fromEntries(
          Array.from({ length: ctx.sizes.hosts }, (_, h) => [`h-${h}`, { executor: "local" }]),
        ),
        policy: { dryRun: true, minIntervalSec: 0, maxPerHour: 10_000_000 },
        log: { level: "warning", format: "json" },
      };
      await Deno.writeTextFile(`${dir}/m${i}.json`, JSON.stringify(config));
      runs.push(BenchProcess.deno(`${ROOT}main.ts`, ["run", "--config", `${dir}/m${i}.json`]));
    }
    const q = async (sql: string) => (await client.query(sql)).rows[0];
    // Ready: every instance announced itself on the store (its first step once connected).
    await waitUntil(async () => {
      for (const r of runs) if (r.status) throw new Error(`mandrill exited at start${r.tail()}`);
      try {
        return Number((await q("SELECT count(*) AS n FROM instance")).n) >= o.instances;
      } catch {
        return false; // the schema is not there yet
      }
    }, { timeoutMs: 60_000, what: `${o.instances} instances on the store` });
    const cpu0 = runs.map((r) => readCpuSeconds(r.pid));
    await using pub = burst(ctx, { prefix, count: o.count, idPrefix: "b-" });
    const p = await pub.json<PublisherResult>(300_000);
    if (p.errors > 0) throw new Error(`pg pipeline: ${p.errors} publishes failed`);
    const span = await waitUntil(async () => {
      const r = await q(
        `SELECT count(*) FILTER (WHERE state = 'done') AS done, count(*) AS n,
                max(received_at) AS received, max(finished_at) AS finished
           FROM inbox WHERE id LIKE 'b-%'`,
      );
      return Number(r.done) >= o.count ? r : undefined;
    }, { timeoutMs: 120_000, intervalMs: 200, what: `${o.count} requests done in PostgreSQL` })
      .catch(async (err) => {
        // Where the requests stand, and whether the instances still run.
        const states = (await client.query(
          "SELECT state, count(*)::int AS n FROM inbox WHERE id LIKE 'b-%' GROUP BY state",
        )).rows.map((r) => `${r.n} ${r.state}`).join(", ");
        const alive = runs.filter((r) => !r.status).length;
        throw new Error(
          `${(err as Error).message}: ${states || "no rows"}; ${alive} of ${runs.length} ` +
            `instances running${runs.map((r) => r.tail()).join("")}`,
        );
      });
    const cpu = runs.reduce((s, r, i) => s + readCpuSeconds(r.pid) - cpu0[i]!, 0);
    for (const r of runs) r.kill("SIGTERM");
    for (const r of runs) {
      const s = await r.exited();
      if (s.code !== 0) throw new Error(`pg pipeline: mandrill exited with ${s.code}${r.tail()}`);
    }
    return {
      msgsPerSec: o.count / ((Number(span.finished) - p.firstSendAt) / 1000),
      intakePerSec: o.count / ((Number(span.received) - p.firstSendAt) / 1000),
      cpuSecPer1k: (cpu / o.count) * 1000,
      instances: o.instances,
    };
  } finally {
    for (const r of runs) await r[Symbol.asyncDispose]();
    await client.end().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
