/**
 * Starts child processes on a dedicated worker thread, so the main thread
 * never blocks in spawn.
 *
 * Deno spawns with posix_spawn/vfork: the calling thread waits until the child
 * has exec'd, which on a busy machine means waiting for the child to be
 * scheduled. Under load that stalled the whole event loop (MQTT, SQLite,
 * timers). A {@linkcode Spawner} moves spawning, waiting for exit and reading
 * the output onto one Worker; the main thread only exchanges messages with it.
 * Killing stays on the main thread (`Deno.kill(-pid, sig)`), see `_run.ts`.
 * @module
 */
import { SpawnerThread } from "./_spawner_thread.ts";

/** How to start one child. The child always gets exactly `env` (`clearEnv`). */
export interface SpawnSpec {
  /** Program path. */
  cmd: string;
  /** Arguments after the program. */
  args: string[];
  /** The child's whole environment. */
  env: Record<string, string>;
  /** Start the child in a new session (fork-based); used when `setsid` is not installed. */
  detached: boolean;
  /**
   * The program and arguments without the `setsid` wrapper: a spawner that
   * starts the new session itself (posix_spawn with POSIX_SPAWN_SETSID)
   * runs these instead of `cmd` and `args`. Default: none.
   */
  session?: { cmd: string; args: string[] };
  /** Bytes kept from the end of stdout and of stderr. */
  tailBytes: number;
  /** How long to keep reading output after the child exited. */
  drainGraceMs: number;
}

/** How a started child ended: it exited, or it was lost (spawner closed or failed). */
export type ChildStatus =
  | { kind: "exited"; code: number; signal: Deno.Signal | null }
  | { kind: "lost"; reason: unknown };

/** Output tails of a child, as text (see `TailBuffer.text()`). */
export interface ChildOutput {
  stdout: string;
  stderr: string;
}

/** A running child, however it was started. */
export interface SpawnedChild {
  /** Pid of the child; also its process group id when started in a new session. */
  readonly pid: number;
  /** Settles when the child exited; never rejects. */
  readonly status: Promise<ChildStatus>;
  /** The output tails, once both streams ended or `drainGraceMs` after exit; never rejects. */
  output(): Promise<ChildOutput>;
}

/**
 * The result of starting a child. `unavailable`: the worker thread could not
 * be started at all (nothing was spawned); the caller spawns by itself.
 */
export type SpawnResult =
  | { kind: "spawned"; child: SpawnedChild }
  | { kind: "spawn-error"; code: 126 | 127; message: string }
  | { kind: "unavailable"; reason: string };

/**
 * Starts children on lazily started Worker threads (one by default), each
 * spawn on the thread with the fewest children in flight.
 *
 * An idle Worker keeps the process alive, so call {@linkcode Spawner.close}
 * (or `using`) when done: it terminates the workers, SIGKILLs the process group
 * of every child still running and resolves their waits (as lost).
 *
 * @example
 * ```ts
 * using spawner = new Spawner({ threads: 2 });
 * const result = await runProcess("/bin/true", { timeoutMs: 5000, spawner });
 * ```
 */
export class Spawner implements Disposable {
  readonly #threads: SpawnerThread[];

  /**
   * `threads`: worker threads (default 1): a spawn blocks its thread until the
   * child has exec'd, so a second one keeps spawning meanwhile. `source`: the
   * worker's program as JavaScript (tests). Default: the built-in one.
   * `readyTimeoutMs`: a worker not ready by then (stuck loading) makes spawns
   * `unavailable`, and they run from the calling thread. Default: 10,000.
   */
  constructor(options: { threads?: number; source?: string; readyTimeoutMs?: number } = {}) {
    const threads = options.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`Spawner threads must be a positive integer, got ${threads}`);
    }
    this.#threads = Array.from({ length: threads }, () => new SpawnerThread(options));
  }

  /** Children started or being started whose output has not arrived yet. */
  get pending(): number {
    return this.#threads.reduce((n, t) => n + t.pending, 0);
  }

  /** True while a worker thread exists: from the first spawn until closed. */
  get running(): boolean {
    return this.#threads.some((t) => t.running);
  }

  /**
   * Starts a child per `spec` on the least busy thread. Resolves once it runs
   * (or could not start); never rejects. Not abortable: stop a started child
   * with `Deno.kill(-pid)`. After {@linkcode close} it resolves with a 126 spawn error.
   */
  spawn(spec: SpawnSpec): Promise<SpawnResult> {
    let best = this.#threads[0]!;
    for (const t of this.#threads) if (t.pending < best.pending) best = t;
    return best.spawn(spec);
  }

  /** Closes every thread; see the class. Idempotent. */
  close(): void {
    for (const t of this.#threads) t.close();
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
