/**
 * Shutdown: SIGTERM while `shutdownInFlight` restarts run (`sleep 30`, as many
 * as maxUnavailable allows) and `shutdownPending` more wait for a slot, with
 * `shutdown.graceSec: 1`. Measures SIGTERM → exit and checks what was left:
 * the waiting rows still pending, the running ones interrupted, no `sleep` left.
 * @module
 */
import type { BenchContext } from "./context.ts";
import { BenchMandrill } from "./mandrill.ts";
import { waitUntil } from "./proc.ts";
import { burst } from "./throughput.ts";
import type { PublisherResult } from "./publisher.ts";

/** One shutdown run. */
export interface ShutdownRun {
  /** ms from SIGTERM to the process's exit. */
  exitMs: number;
  exitCode: number;
  /** Store rows after exit. */
  after: { pending: number; started: number; done: number };
  outcomes: Record<string, number>;
  /** Executor processes still alive after mandrill exited. */
  orphans: number;
}

function _children(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

function _alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** 1,000 pending, 50 in flight, SIGTERM, grace 1 s. */
export async function shutdownRun(ctx: BenchContext): Promise<ShutdownRun> {
  const { shutdownPending, shutdownInFlight, hosts } = ctx.sizes;
  const prefix = ctx.prefix("shutdown");
  const count = shutdownPending + shutdownInFlight;
  await using m = await BenchMandrill.start({
    url: ctx.broker.url,
    prefix,
    hosts,
    // The host name is appended as $0; exec so the sleep is the executor's own child.
    argv: ["/bin/sh", "-c", "exec sleep 30"],
    policy: { maxUnavailable: shutdownInFlight, maxUnavailablePerGroup: shutdownInFlight },
    graceSec: 1,
  });
  await using pub = burst(ctx, { prefix, count, idPrefix: "s-" });
  const p = await pub.json<PublisherResult>(60_000);
  if (p.errors > 0) throw new Error(`shutdown: ${p.errors} publishes failed`);
  let sleeps: number[] = [];
  await waitUntil(() => {
    const c = m.counts();
    sleeps = _children(m.proc.pid);
    return c.started === shutdownInFlight && c.pending === shutdownPending &&
      sleeps.length >= shutdownInFlight;
  }, { timeoutMs: 60_000, what: `${shutdownInFlight} started and ${shutdownPending} pending` });
  const stopped = await m.stop(60_000);
  const after = m.counts();
  const outcomes = m.outcomes("s-");
  // Killed executors may take a moment to be reaped; anything alive after 2 s is left over.
  await waitUntil(() => !sleeps.some(_alive), { timeoutMs: 2_000, what: "executors to end" })
    .catch(() => {});
  await ctx.checkBroker("shutdown");
  return {
    exitMs: stopped.ms,
    exitCode: stopped.code,
    after,
    outcomes,
    orphans: sleeps.filter(_alive).length,
  };
}
