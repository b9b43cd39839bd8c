// deno-lint-ignore-file no-console
/**
 * The executor's ceiling: a bare Deno process that only starts `argv` `count`
 * times, `concurrency` at once, as mandrill's `command` executor does (no
 * shell, stdin null, stdout and stderr piped and read to the end). Prints one
 * JSON line: spawns per second and the CPU it took: its own, its children's
 * and the whole machine's.
 *
 * With `hosts`, each spawn gets a host name as its last argument, as the
 * command executor's children do; it matters: GNU `true` with one argument
 * sets up the locale (to check for `--help`), a third more CPU per child.
 *
 * Usage: `deno run -A spawn_ceiling.ts '{"argv":["/bin/true"],"count":5000,"concurrency":64,"hosts":1000}'`
 * @module
 */
import { readChildrenCpuSeconds, readCpuSeconds, readMachineBusySeconds } from "./proc.ts";

/** What the spawn ceiling reports. */
export interface SpawnCeilingResult {
  spawns: number;
  failed: number;
  spawnsPerSec: number;
  /** CPU seconds per 1,000 spawns: this process and its children (user + system). */
  cpuSecPer1k: number;
  /** Of those, this process's. */
  selfCpuSecPer1k: number;
  /** Of those, its children's (the /bin/true processes). */
  childrenCpuSecPer1k: number;
  /** CPU seconds per 1,000 spawns of the whole machine (every process, not idle), over the run. */
  machineCpuSecPer1k: number;
  /** The machine's busy cores over the run (2 = both of 2 cores always busy). */
  machineBusyCores: number;
}

async function _drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  for await (const _ of stream) { /* discard, as a tail buffer would keep only the end */ }
}

if (import.meta.main) {
  const args = JSON.parse(Deno.args[0] ?? "{}") as {
    argv: string[];
    count: number;
    concurrency: number;
    /** Append a host name `h-{i % hosts}` to each spawn's arguments, as the command executor does. Default: none. */
    hosts?: number;
  };
  const [cmd, ...rest] = args.argv;
  if (!cmd) throw new Error("argv is empty");
  let next = 0;
  let failed = 0;
  const self0 = readCpuSeconds("self");
  const children0 = readChildrenCpuSeconds("self");
  const machine0 = readMachineBusySeconds();
  const t0 = performance.now();
  const worker = async () => {
    while (next < args.count) {
      const i = next++;
      const child = new Deno.Command(cmd, {
        args: args.hosts ? [...rest, `h-${i % args.hosts}`] : rest,
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
  const per1k = (cpu: number) => (cpu / args.count) * 1000;
  const self = readCpuSeconds("self") - self0;
  const children = readChildrenCpuSeconds("self") - children0;
  const machine = readMachineBusySeconds() - machine0;
  const result: SpawnCeilingResult = {
    spawns: args.count,
    failed,
    spawnsPerSec: args.count / seconds,
    cpuSecPer1k: per1k(self + children),
    selfCpuSecPer1k: per1k(self),
    childrenCpuSecPer1k: per1k(children),
    machineCpuSecPer1k: per1k(machine),
    machineBusyCores: machine / seconds,
  };
  console.log(JSON.stringify(result));
}
