// deno-lint-ignore-file no-console
/**
 * The executor's ceiling: a bare Deno process that only starts `argv` `count`
 * times, `concurrency` at once, as mandrill's `command` executor does (no
 * shell, stdin null, stdout and stderr piped and read to the end). Prints one
 * JSON line: spawns per second and the CPU it took, children included.
 *
 * Usage: `deno run -A spawn_ceiling.ts '{"argv":["/bin/true"],"count":5000,"concurrency":64}'`
 * @module
 */

/** What the spawn ceiling reports. */
export interface SpawnCeilingResult {
  spawns: number;
  failed: number;
  spawnsPerSec: number;
  /** CPU seconds per 1,000 spawns: this process and its children (user + system). */
  cpuSecPer1k: number;
}

/** User + system CPU seconds of this process and of its waited-for children. */
function _cpuWithChildren(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

async function _drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  for await (const _ of stream) { /* discard, as a tail buffer would keep only the end */ }
}

if (import.meta.main) {
  const args = JSON.parse(Deno.args[0] ?? "{}") as {
    argv: string[];
    count: number;
    concurrency: number;
  };
  const [cmd, ...rest] = args.argv;
  if (!cmd) throw new Error("argv is empty");
  let next = 0;
  let failed = 0;
  const cpu0 = _cpuWithChildren();
  const t0 = performance.now();
  const worker = async () => {
    while (next < args.count) {
      next++;
      const child = new Deno.Command(cmd, {
        args: rest,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const [status] = await Promise.all([
        child.status,
        _drain(child.stdout),
        _drain(child.stderr),
      ]);
      if (!status.success) failed++;
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const result: SpawnCeilingResult = {
    spawns: args.count,
    failed,
    spawnsPerSec: args.count / seconds,
    cpuSecPer1k: ((_cpuWithChildren() - cpu0) / args.count) * 1000,
  };
  console.log(JSON.stringify(result));
}
