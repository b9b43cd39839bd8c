/**
 * The program of the `Spawner`'s worker thread, and the messages it
 * exchanges with the main thread.
 * @module
 */
import type { SpawnSpec } from "./_spawner.ts";

/** The last bytes of one stream, as the worker sends them. */
export interface TailBytes {
  bytes: Uint8Array;
  /** True when earlier bytes were dropped. */
  truncated: boolean;
}

export type SpawnMessage = { op: "spawn"; key: number } & SpawnSpec;

export type ToWorker = SpawnMessage | { op: "close" };

export type FromWorker =
  | { key: number; op: "spawned"; pid: number }
  | { key: number; op: "spawn-error"; code: 126 | 127; message: string }
  | { key: number; op: "exited"; code: number; signal: Deno.Signal | null }
  | { key: number; op: "output"; stdout: TailBytes; stderr: TailBytes }
  | { key: number; op: "failed"; message: string }
  | { op: "ready" }
  | { op: "closed" };

/**
 * Starts a child per `spec` from the calling thread (blocking it until the
 * child has exec'd): the child, or why it could not start. Used by the worker
 * and by `_run.ts` alike; shipped to the worker as source text, so globals only.
 */
export function spawnChild(
  spec: SpawnSpec,
): { child: Deno.ChildProcess } | { code: 126 | 127; message: string } {
  try {
    const child = new Deno.Command(spec.cmd, {
      args: spec.args,
      clearEnv: true,
      env: spec.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: spec.detached,
    }).spawn();
    return { child };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { code: 127, message: "command not found" };
    if (error instanceof Deno.errors.PermissionDenied) {
      return { code: 126, message: "permission denied" };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { code: 126, message: `cannot execute: ${message}` };
  }
}

/** The worker's program as source text: {@linkcode spawnerWorker} given {@linkcode spawnChild}. */
export const SPAWNER_WORKER_SOURCE = `(${spawnerWorker.toString()})(${spawnChild.toString()});`;

/**
 * The worker's whole program. It is shipped as source text (`toString()`), so
 * that it works from `deno bundle` and `deno compile` output without a separate
 * file: it may use only globals (`self`, `Deno`, `Promise`, ...) and its
 * parameter, never an import or any identifier from this module. Types are
 * fine: they are erased.
 */
export function spawnerWorker(spawn: typeof spawnChild): void {
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
    postMessage(message: FromWorker): void;
  };

  // The last `capacity` bytes of a stream: the same algorithm as TailBuffer.push.
  const newTail = (capacity: number) => {
    const buf = new Uint8Array(capacity);
    let len = 0;
    let total = 0;
    return {
      push(chunk: Uint8Array): void {
        total += chunk.length;
        if (chunk.length >= capacity) {
          buf.set(chunk.subarray(chunk.length - capacity));
          len = capacity;
          return;
        }
        const keep = Math.min(len, capacity - chunk.length);
        buf.copyWithin(0, len - keep, len);
        buf.set(chunk, keep);
        len = keep + chunk.length;
      },
      take(): TailBytes {
        return { bytes: buf.slice(0, len), truncated: total > len };
      },
    };
  };

  const drain = (stream: ReadableStream<Uint8Array>, tail: { push(c: Uint8Array): void }) => {
    const reader = stream.getReader();
    const done = (async () => {
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          tail.push(value);
        }
      } catch {
        // A cancelled or broken pipe ends the capture; what was read is kept.
      } finally {
        reader.releaseLock();
      }
    })();
    const cancel = async () => {
      await reader.cancel().catch(() => {});
      await done;
    };
    return { done, cancel };
  };

  const run = async (m: SpawnMessage) => {
    const started = spawn(m);
    if (!("child" in started)) {
      scope.postMessage({ key: m.key, op: "spawn-error", ...started });
      return;
    }
    const { child } = started;
    scope.postMessage({ key: m.key, op: "spawned", pid: child.pid });
    const out = newTail(m.tailBytes);
    const err = newTail(m.tailBytes);
    const drains = [drain(child.stdout, out), drain(child.stderr, err)];
    const status = await child.status;
    scope.postMessage({ key: m.key, op: "exited", code: status.code, signal: status.signal });
    // A grandchild may hold the pipes open: read at most drainGraceMs longer.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<void>((resolve) => timer = setTimeout(resolve, m.drainGraceMs));
    await Promise.race([Promise.all(drains.map((d) => d.done)), expired]);
    clearTimeout(timer);
    await Promise.all(drains.map((d) => d.cancel()));
    scope.postMessage({ key: m.key, op: "output", stdout: out.take(), stderr: err.take() });
  };

  scope.postMessage({ op: "ready" });
  scope.onmessage = (e) => {
    const m = e.data;
    // Every earlier spawn has already reported its pid: spawning is synchronous.
    if (m.op === "close") return scope.postMessage({ op: "closed" });
    run(m).catch((error) => {
      const message = error instanceof Error ? error.message : String(error);
      scope.postMessage({ key: m.key, op: "failed", message });
    });
  };
}
