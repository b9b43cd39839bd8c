/**
 * `mandrill run` as the bench drives it: a config file in a temporary
 * directory, the process itself (`deno run -A main.ts run --config FILE`), a
 * readiness probe, and a read-only view of its SQLite store.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import type { ConfigInput } from "../../src/config/mod.ts";
import { connectClient } from "../../tests/_helpers/mqtt.ts";
import {
  BenchProcess,
  readChildrenCpuSeconds,
  readCpuSeconds,
  readMemory,
  ROOT,
  waitUntil,
} from "./proc.ts";
import denoJson from "../../deno.json" with { type: "json" };

/** The V8 flags the shipped binary is compiled with (`deno task compile`): measure what ships. */
const SHIPPED_V8_FLAGS = denoJson.tasks.compile.split(/\s+/).filter((a) =>
  a.startsWith("--v8-flags=")
);

/** Options of {@linkcode BenchMandrill.start}. */
export interface BenchMandrillOptions {
  /** Broker URL. Required. */
  url: string;
  /** Topic prefix, unique per run so runs never see each other's messages. Required. */
  prefix: string;
  /**
   * Hosts `h-0` ... `h-{hosts-1}`, all with the `local` command executor, or
   * the host entries themselves (with `executors`). A host `h-0` answers the
   * readiness probe. Required.
   */
  hosts: number | NonNullable<ConfigInput["hosts"]>;
  /** argv of the `local` command executor (the host name is appended). Default: `/bin/true`. */
  argv?: string[];
  /** The `executors` section. Default: `local`, the command executor running `argv`. */
  executors?: ConfigInput["executors"];
  /** The `recovery` section. Default: mandrill's. */
  recovery?: ConfigInput["recovery"];
  /** The `security` section. Default: mandrill's. */
  security?: ConfigInput["security"];
  /** The `fleet` section. Default: mandrill's. */
  fleet?: ConfigInput["fleet"];
  /** `policy` overrides on top of dry run off, no rate limits, maxUnavailable 64. */
  policy?: NonNullable<ConfigInput["policy"]>;
  /** `shutdown.graceSec`. Default: 5. */
  graceSec?: number;
  /** `http.listen`. Default: null (off). */
  httpListen?: string | null;
  /** Flags for `deno run`, e.g. `--cpu-prof`. Default: none. */
  denoFlags?: string[];
}

/** A running `mandrill run` with its own store in a temporary directory. */
export class BenchMandrill implements AsyncDisposable {
  readonly proc: BenchProcess;
  readonly dir: string;
  readonly dbPath: string;
  readonly prefix: string;
  readonly clientId: string;
  readonly url: string;
  /** ms from spawn to the first probe request being done. */
  readyMs = 0;
  #db: DatabaseSync | undefined;
  #probes = 0;

  private constructor(proc: BenchProcess, dir: string, o: BenchMandrillOptions, clientId: string) {
    this.proc = proc;
    this.dir = dir;
    this.dbPath = `${dir}/mandrill.db`;
    this.prefix = o.prefix;
    this.clientId = clientId;
    this.url = o.url;
  }

  /** Writes the config, starts mandrill and waits until it handles a request end to end. */
  static async start(o: BenchMandrillOptions): Promise<BenchMandrill> {
    const dir = await Deno.makeTempDir({ prefix: "mandrill-bench-" });
    const clientId = `mandrill-${o.prefix}`;
    const config: ConfigInput = {
      mqtt: { url: o.url, topicPrefix: o.prefix, clientId },
      store: { path: `${dir}/mandrill.db` },
      http: { listen: o.httpListen ?? null },
      executors: o.executors ??
        { local: { type: "command", argv: o.argv ?? ["/bin/true"], timeoutSec: 60 } },
      hosts: typeof o.hosts === "number"
        ? Object.fromEntries(
          Array.from({ length: o.hosts }, (_, i) => [`h-${i}`, { executor: "local" }]),
        )
        : o.hosts,
      ...(o.recovery ? { recovery: o.recovery } : {}),
      ...(o.security ? { security: o.security } : {}),
      ...(o.fleet ? { fleet: o.fleet } : {}),
      policy: {
        dryRun: false,
        maxUnavailable: 64,
        maxUnavailablePerGroup: 64,
        minIntervalSec: 0,
        maxPerHour: 10_000_000,
        ...o.policy,
      },
      shutdown: { graceSec: o.graceSec ?? 5 },
      log: { level: "warning", format: "json" },
    };
    const file = `${dir}/mandrill.json`;
    await Deno.writeTextFile(file, JSON.stringify(config));
    const t0 = performance.now();
    const proc = BenchProcess.deno(`${ROOT}main.ts`, ["run", "--config", file], {
      denoFlags: [...SHIPPED_V8_FLAGS, ...(o.denoFlags ?? [])],
    });
    const m = new BenchMandrill(proc, dir, o, clientId);
    try {
      await m.#probe();
    } catch (err) {
      await m[Symbol.asyncDispose]();
      throw err;
    }
    m.readyMs = performance.now() - t0;
    return m;
  }

  /**
   * With the log at "warning", mandrill prints nothing when it connects: publish a
   * dry-run request (id `probe-N`) until the store shows it done. This proves the
   * subscription, intake, dispatcher and store all work before timing starts.
   */
  async #probe(): Promise<void> {
    await using client = await connectClient(this.url);
    let last = 0;
    await waitUntil(async () => {
      if (this.proc.status) {
        throw new Error(`mandrill exited (${this.proc.status.code}) at start${this.proc.tail()}`);
      }
      if (this.#probes > 0 && this.doneCount("probe-") > 0) return true;
      if (performance.now() - last > 250) {
        last = performance.now();
        const id = `probe-${this.#probes++}`;
        await client.publishAsync(
          `${this.prefix}/restart`,
          JSON.stringify({ id, host: "h-0", dryRun: true }),
          { qos: 1 },
        );
      }
      return false;
    }, { timeoutMs: 60_000, intervalMs: 25, what: "mandrill to handle a probe request" });
  }

  #query<T>(sql: string, ...params: (string | number)[]): T | undefined {
    try {
      this.#db ??= new DatabaseSync(this.dbPath, { readOnly: true });
      return this.#db.prepare(sql).get(...params) as T | undefined;
    } catch {
      // Not created or migrated yet.
      this.#db?.close();
      this.#db = undefined;
      return undefined;
    }
  }

  /** `SELECT {columns} FROM {table}` over the ids starting with `prefix`; throws if unreadable. */
  #aggregate<T>(columns: string, table: "inbox" | "history", prefix: string): T {
    const r = this.#query<T>(
      `SELECT ${columns} FROM ${table} WHERE id >= ? AND id < ?`,
      ..._range(prefix),
    );
    if (!r) throw new Error("Cannot read the store");
    return r;
  }

  /** Rows done whose id starts with `prefix` (a range scan of the id index). */
  doneCount(prefix: string): number {
    return this.#query<{ n: number }>(
      `SELECT count(*) AS n FROM inbox WHERE id >= ? AND id < ? AND state = 'done'`,
      ..._range(prefix),
    )?.n ?? 0;
  }

  /** Rows no longer pending (started or done) whose id starts with `prefix`. */
  startedCount(prefix: string): number {
    return this.#query<{ n: number }>(
      `SELECT count(*) AS n FROM inbox WHERE id >= ? AND id < ? AND state != 'pending'`,
      ..._range(prefix),
    )?.n ?? 0;
  }

  /** Rows per state (probes excluded). */
  counts(): { pending: number; started: number; done: number } {
    const out = { pending: 0, started: 0, done: 0 };
    try {
      this.#db ??= new DatabaseSync(this.dbPath, { readOnly: true });
      const rows = this.#db.prepare(
        `SELECT state, count(*) AS n FROM inbox WHERE NOT (id >= ? AND id < ?) GROUP BY state`,
      ).all(..._range("probe-")) as { state: keyof typeof out; n: number }[];
      for (const r of rows) out[r.state] = r.n;
    } catch { /* not there yet */ }
    return out;
  }

  /** Outcomes of done rows whose id starts with `prefix`, e.g. `{ skipped: 50000 }`. */
  outcomes(prefix: string): Record<string, number> {
    this.#db ??= new DatabaseSync(this.dbPath, { readOnly: true });
    const rows = this.#db.prepare(
      `SELECT outcome, count(*) AS n FROM inbox WHERE id >= ? AND id < ? AND state = 'done'
       GROUP BY outcome`,
    ).all(..._range(prefix)) as { outcome: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.outcome, r.n]));
  }

  /**
   * First and last received_at (inbox insert) and last finished_at, ms on
   * mandrill's clock, of the ids starting with `prefix`.
   */
  span(
    prefix: string,
  ): { firstReceivedAt: number; lastReceivedAt: number; lastFinishedAt: number } {
    const r = this.#aggregate<{ a: number; b: number; c: number }>(
      "min(received_at) AS a, max(received_at) AS b, max(finished_at) AS c",
      "inbox",
      prefix,
    );
    return { firstReceivedAt: r.a, lastReceivedAt: r.b, lastFinishedAt: r.c };
  }

  /**
   * The restarts of the ids starting with `prefix`, from their history: the
   * first start and last end (ms on mandrill's clock), and the sum of their
   * durations (executor start to end), ms.
   */
  restarts(prefix: string): { firstStartedAt: number; lastFinishedAt: number; totalMs: number } {
    const r = this.#aggregate<{ a: number; b: number; d: number }>(
      "min(started_at) AS a, max(finished_at) AS b, sum(duration_ms) AS d",
      "history",
      prefix,
    );
    return { firstStartedAt: r.a, lastFinishedAt: r.b, totalMs: r.d };
  }

  /**
   * History of the ids starting with `prefix`: how many came back
   * (`recovered_at` set), the last `recovered_at` (ms on mandrill's clock) and
   * each outcome's count, e.g. `{ succeeded: 198, failed: 2 }`.
   */
  recoveries(
    prefix: string,
  ): { recovered: number; lastRecoveredAt: number; outcomes: Record<string, number> } {
    const r = this.#aggregate<{ n: number; last: number | null }>(
      "count(recovered_at) AS n, max(recovered_at) AS last",
      "history",
      prefix,
    );
    const rows = this.#db!.prepare(
      `SELECT outcome, count(*) AS n FROM history WHERE id >= ? AND id < ? GROUP BY outcome`,
    ).all(..._range(prefix)) as { outcome: string | null; n: number }[];
    return {
      recovered: r.n,
      lastRecoveredAt: r.last ?? NaN,
      outcomes: Object.fromEntries(rows.map((o) => [o.outcome ?? "running", o.n])),
    };
  }

  /** Waits until `n` rows whose id starts with `prefix` are done; throws with the counts at the deadline. */
  async waitDone(prefix: string, n: number, timeoutMs: number): Promise<void> {
    try {
      await waitUntil(() => {
        if (this.proc.status) throw new Error(`mandrill exited (${this.proc.status.code})`);
        return this.doneCount(prefix) >= n;
      }, { timeoutMs, intervalMs: 100, what: `${n} requests done` });
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; store: ${JSON.stringify(this.counts())}${this.proc.tail()}`,
      );
    }
  }

  /** VmRSS and VmHWM now. */
  memory(): { rss: number; hwm: number } {
    return readMemory(this.proc.pid);
  }

  /** CPU seconds used so far. */
  cpuSeconds(): number {
    return readCpuSeconds(this.proc.pid);
  }

  /** CPU seconds of the children it has waited for (its executors' processes) so far. */
  childrenCpuSeconds(): number {
    return readChildrenCpuSeconds(this.proc.pid);
  }

  /** CPU used while idle over a window of `ms`, in cores (1 = one full core). */
  async idleCores(ms = 2_000): Promise<number> {
    const cpu0 = this.cpuSeconds();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    return (this.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
  }

  /** SIGTERM and wait for exit; returns ms from the signal to the exit and the status. */
  async stop(timeoutMs = 30_000): Promise<{ ms: number; code: number }> {
    this.#db?.close();
    this.#db = undefined;
    const t0 = performance.now();
    this.proc.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      this.proc.exited(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`mandrill did not exit ${timeoutMs} ms after SIGTERM`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    return { ms: performance.now() - t0, code: status.code };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#db?.close();
    this.#db = undefined;
    await this.proc[Symbol.asyncDispose]();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** [prefix, next) bounds of the ids starting with `prefix`, for a range scan of the id index. */
function _range(prefix: string): [string, string] {
  const last = prefix.charCodeAt(prefix.length - 1);
  return [prefix, prefix.slice(0, -1) + String.fromCharCode(last + 1)];
}
