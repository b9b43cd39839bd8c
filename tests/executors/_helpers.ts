/**
 * Helpers shared by the executor tests: temp dirs, scripts, waiting on
 * observable conditions with a deadline, process liveness, and both ways of
 * starting children.
 * @module
 */
import { Spawner } from "../../src/executors/_spawner.ts";
import { waitFor } from "../_helpers/wait.ts";

/** A temporary directory removed on dispose. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
}

/** Creates a temporary directory that `await using` removes. */
export async function tempDir(): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: "mandrill-exec-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Writes an executable `/bin/sh` script into `dir`; returns its path. */
export async function writeScript(dir: string, name: string, body: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

/** True when `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

export { waitFor };

/** A way of starting children: from the test's thread, or on a Spawner's worker. */
export interface SpawnMode {
  readonly name: string;
  /** A new Spawner (close it, e.g. with `using`), or undefined for direct spawning. */
  open(): Spawner | undefined;
}

/** Both ways of starting children, for tests that must hold in each. */
export const SPAWN_MODES: readonly SpawnMode[] = [
  { name: "direct", open: () => undefined },
  { name: "spawner", open: () => new Spawner() },
];

/** True while `pid` is a live process (a zombie counts as dead). */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Reads a pid written by a script, once the file is complete. */
export async function readPid(path: string): Promise<number> {
  let pid = NaN;
  await waitFor(async () => {
    const text = await Deno.readTextFile(path).catch(() => "");
    pid = Number.parseInt(text, 10);
    return text.endsWith("\n") && Number.isInteger(pid);
  }, { what: `pid in ${path}` });
  return pid;
}

/** SIGKILLs `pid`, ignoring a process that is already gone. */
export function killQuietly(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
