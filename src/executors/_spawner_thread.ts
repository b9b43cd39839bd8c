/**
 * One worker thread of a `Spawner`: spawns, exit statuses and output tails
 * of its children, multiplexed by key over the worker's messages; a worker
 * that cannot start or dies makes its spawns `unavailable` or its children
 * `lost`, and a timed-out tree is killed from here.
 * @module
 */
import { log } from "../log.ts";
import { TailBuffer } from "./_tail.ts";
import {
  type FromWorker,
  SPAWNER_WORKER_SOURCE,
  type SpawnMessage,
  type TailBytes,
  type ToWorker,
} from "./_spawner_worker.ts";
import type { ChildOutput, ChildStatus, SpawnedChild, SpawnResult, SpawnSpec } from "./_spawner.ts";

interface Pending {
  spawn: PromiseWithResolvers<SpawnResult>;
  status: PromiseWithResolvers<ChildStatus>;
  output: PromiseWithResolvers<ChildOutput>;
  pid?: number;
  exited: boolean;
}

/** One worker thread of a {@linkcode Spawner}, its children multiplexed by key. */
export class SpawnerThread implements Disposable {
  #worker: Worker | undefined;
  #closed = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #url: string | undefined;
  #nextKey = 1;
  readonly #pending = new Map<number, Pending>();
  /** Messages of this turn for the worker, sent together (see {@linkcode #send}). */
  #outbox: ToWorker[] = [];
  /** Why the worker could not start, once it could not: spawns are then `unavailable`. */
  #unavailable: string | undefined;
  #ready = false;
  readonly #source: string;
  readonly #readyTimeoutMs: number;
  #readyTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: { source?: string; readyTimeoutMs?: number }) {
    this.#source = options.source ?? SPAWNER_WORKER_SOURCE;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  }

  /** Children started or being started whose output has not arrived yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** True while the worker thread exists: from the first spawn until closed. */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /**
   * Starts a child per `spec`. Resolves once it runs (or could not start);
   * never rejects. Not abortable: stop a started child with `Deno.kill(-pid)`.
   * After {@linkcode close} it resolves with a 126 spawn error.
   */
  spawn(spec: SpawnSpec): Promise<SpawnResult> {
    if (this.#closed) {
      return Promise.resolve({
        kind: "spawn-error",
        code: 126,
        message: "cannot execute: the spawner is closed",
      });
    }
    if (this.#unavailable !== undefined) {
      return Promise.resolve({ kind: "unavailable", reason: this.#unavailable });
    }
    const key = this.#nextKey++;
    const entry: Pending = {
      spawn: Promise.withResolvers(),
      status: Promise.withResolvers(),
      output: Promise.withResolvers(),
      exited: false,
    };
    this.#pending.set(key, entry);
    const { cmd, args, env, detached, session, tailBytes, drainGraceMs } = spec;
    const message: SpawnMessage = {
      op: "spawn",
      key,
      cmd,
      args,
      env,
      detached,
      ...(session ? { session } : {}),
      tailBytes,
      drainGraceMs,
    };
    this.#send(message);
    return entry.spawn.promise;
  }

  /**
   * Terminates the worker. Children still running have their process group
   * SIGKILLed and their waits resolved at once: spawns as 126 errors,
   * statuses as lost. Idempotent.
   *
   * When spawns are still in flight, the worker is first asked for their pids
   * (to kill those children too) and terminated on its answer, or after five
   * seconds at most: {@linkcode running} tells when it is gone.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const inFlight = [...this.#pending.values()].some((e) => e.pid === undefined);
    this.#loseAll(new Error("the spawner is closed"));
    if (!inFlight) return this.#terminate();
    // After the spawns queued this turn: the worker answers once it started them.
    this.#send({ op: "close" });
    this.#flush();
    // Only a stuck worker takes that long; a busy machine may need a second.
    this.#closeTimer = setTimeout(() => this.#terminate(), 5000);
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #terminate(): void {
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#readyTimer);
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#revokeUrl();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const source = this.#source;
    // Revoked once the worker runs: Deno may load it after the constructor
    // returns (denoland/deno#26142).
    this.#url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
    const worker = new Worker(this.#url, { type: "module" });
    worker.onmessage = (e: MessageEvent<FromWorker[]>) => {
      for (const m of e.data) this.#receive(m);
    };
    worker.onerror = (e: ErrorEvent) => {
      // A crashed worker would otherwise take the main thread down with it.
      e.preventDefault();
      if (this.#worker !== worker) return;
      this.#terminate();
      if (!this.#ready) return this.#becomeUnavailable(e.message);
      this.#loseAll(new Error(`the spawner worker failed: ${e.message}`));
    };
    this.#readyTimer = setTimeout(() => {
      if (this.#ready || this.#worker !== worker) return;
      this.#terminate();
      this.#becomeUnavailable(`not ready within ${this.#readyTimeoutMs} ms`);
    }, this.#readyTimeoutMs);
    this.#worker = worker;
    return worker;
  }

  /** Queues `m` for the worker: the messages of one turn go in one `postMessage`. */
  #send(m: ToWorker): void {
    this.#start();
    if (this.#outbox.push(m) === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const batch = this.#outbox;
    if (batch.length === 0) return;
    this.#outbox = [];
    // Gone meanwhile (it failed, or was closed): its waits are settled already.
    if (this.#worker === undefined) return;
    try {
      this.#worker.postMessage(batch);
    } catch (error) {
      // Nothing of the batch reached the worker: its spawns did not happen.
      const reason = error instanceof Error ? error : new Error(String(error));
      for (const m of batch) {
        const entry = m.op === "spawn" ? this.#pending.get(m.key) : undefined;
        if (m.op !== "spawn" || entry === undefined) continue;
        this.#pending.delete(m.key);
        _lose(entry, reason);
      }
    }
  }

  #revokeUrl(): void {
    if (this.#url !== undefined) URL.revokeObjectURL(this.#url);
    this.#url = undefined;
  }

  #receive(m: FromWorker): void {
    if (m.op === "ready") {
      this.#ready = true;
      clearTimeout(this.#readyTimer);
      _sayHowChildrenStart(m.posixSpawn);
      return this.#revokeUrl();
    }
    if (m.op === "closed") return this.#terminate();
    const entry = this.#pending.get(m.key);
    if (!entry) {
      // Started after its waits were settled by close(): nobody watches it.
      if (m.op === "spawned") _killTree(m.pid);
      return;
    }
    switch (m.op) {
      case "spawned": {
        entry.pid = m.pid;
        const child: SpawnedChild = {
          pid: m.pid,
          status: entry.status.promise,
          output: () => entry.output.promise,
        };
        entry.spawn.resolve({ kind: "spawned", child });
        break;
      }
      case "spawn-error":
        this.#pending.delete(m.key);
        entry.spawn.resolve({ kind: "spawn-error", code: m.code, message: m.message });
        break;
      case "exited":
        entry.exited = true;
        entry.status.resolve({ kind: "exited", code: m.code, signal: m.signal });
        if (m.output) this.#outputArrived(m.key, entry, m.output);
        break;
      case "output":
        this.#outputArrived(m.key, entry, m);
        break;
      case "failed":
        this.#pending.delete(m.key);
        _lose(entry, new Error(`the spawner worker failed: ${m.message}`));
        break;
    }
  }

  /** A child's output tails came: its last message, so it is done with. */
  #outputArrived(
    key: number,
    entry: Pending,
    tails: { stdout: TailBytes; stderr: TailBytes },
  ): void {
    this.#pending.delete(key);
    entry.output.resolve({ stdout: _tailText(tails.stdout), stderr: _tailText(tails.stderr) });
  }

  /**
   * The worker never ran (e.g. a runtime that cannot load it): nothing it was
   * sent was spawned, so every spawn so far and from now on is `unavailable`.
   */
  #becomeUnavailable(message: string): void {
    this.#unavailable = `the spawner worker could not start: ${message}`;
    for (const entry of this.#pending.values()) {
      entry.spawn.resolve({ kind: "unavailable", reason: this.#unavailable });
    }
    this.#pending.clear();
  }

  #loseAll(reason: Error): void {
    for (const entry of this.#pending.values()) _lose(entry, reason);
    this.#pending.clear();
  }
}

/** Kills what is left of a child whose worker is gone, and settles its waits. */
function _lose(entry: Pending, reason: Error): void {
  if (entry.pid !== undefined && !entry.exited) _killTree(entry.pid);
  entry.spawn.resolve({
    kind: "spawn-error",
    code: 126,
    message: `cannot execute: ${reason.message}`,
  });
  entry.status.resolve({ kind: "lost", reason });
  entry.output.resolve({ stdout: "", stderr: "" });
}

/** SIGKILLs the process group of `pid`, and `pid` itself in case setsid has not created the group yet. */
function _killTree(pid: number): void {
  const kill = (target: number) => {
    try {
      Deno.kill(target, "SIGKILL");
      return true;
    } catch {
      return false; // Gone, or no such group yet.
    }
  };
  if (kill(-pid)) return;
  // Once the leader is dead it forks no more: the group, if it was created
  // meanwhile, is complete for the second try.
  if (kill(pid)) kill(-pid);
}

/** The text of a tail from the worker, exactly as `TailBuffer.text()` makes it. */
function _tailText(tail: TailBytes): string {
  if (tail.bytes.length === 0) return ""; // most children print nothing
  const capacity = Math.max(tail.bytes.length, 1);
  const buffer = new TailBuffer(capacity);
  // The worker sends a full buffer when it dropped bytes; one placeholder byte
  // pushed first (and dropped) makes the TailBuffer know it is truncated.
  if (tail.truncated) buffer.push(new Uint8Array(1));
  buffer.push(tail.bytes);
  return buffer.text();
}

let _said = false;

/** Says once per process how executors start their children. */
function _sayHowChildrenStart(posixSpawn: boolean): void {
  if (_said) return;
  _said = true;
  if (posixSpawn) {
    log("executor").debug("Children start with posix_spawn, each in a session of its own");
  } else {
    log("executor").info(
      "Children start through setsid (posix_spawn needs Linux and --allow-ffi): about half as fast",
    );
  }
}
