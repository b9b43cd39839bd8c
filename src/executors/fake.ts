/**
 * A scriptable {@linkcode Executor} for tests: records every call, answers with
 * configured outcomes, can hold executions behind a gate, and measures concurrency.
 * @module
 */
import type { ExecuteOutcome, ExecuteRequest, Executor } from "./types.ts";

/** Decides the outcome of one call. */
export type FakeOutcomeFn = (
  req: ExecuteRequest,
  signal?: AbortSignal,
) => ExecuteOutcome | Promise<ExecuteOutcome>;

/** Options of {@linkcode FakeExecutor}. */
export interface FakeExecutorOptions {
  /** Outcome of every call not matched by `byHost`, or a function deciding it. Default: `{ kind: "ok" }`. */
  outcome?: ExecuteOutcome | FakeOutcomeFn;
  /** Outcome per host name, taking precedence over `outcome`. Default: none. */
  byHost?: Record<string, ExecuteOutcome>;
  /** Calls wait for this promise before answering (an abort ends the wait). Default: none. */
  gate?: Promise<unknown>;
}

/** One recorded call. */
export interface FakeCall {
  req: ExecuteRequest;
  signal?: AbortSignal;
}

/**
 * Test double of an executor.
 *
 * @example
 * ```ts
 * const gate = Promise.withResolvers<void>();
 * const fake = new FakeExecutor({ gate: gate.promise, byHost: { "db-1": { kind: "timeout", detail: "slow" } } });
 * const p = fake.execute({ id: "r-1", host: "web-1" });
 * await fake.waitForRunning(1);
 * gate.resolve();
 * await p; // { kind: "ok" }
 * ```
 */
export class FakeExecutor implements Executor {
  /** Every call, in arrival order. */
  readonly calls: FakeCall[] = [];
  /** Outcome of calls not matched by `byHost`; may be changed between calls. */
  outcome: ExecuteOutcome | FakeOutcomeFn;
  /** Outcome per host; may be changed between calls. */
  byHost: Record<string, ExecuteOutcome>;
  /** Gate that new calls wait for; may be replaced between calls. */
  gate: Promise<unknown> | undefined;
  #running = 0;
  #maxRunning = 0;
  #waiters = new Set<() => void>();

  /** See {@linkcode FakeExecutorOptions} for defaults. */
  constructor(options: FakeExecutorOptions = {}) {
    this.outcome = options.outcome ?? { kind: "ok" };
    this.byHost = { ...options.byHost };
    this.gate = options.gate;
  }

  /** Number of calls currently executing. */
  get running(): number {
    return this.#running;
  }

  /** Highest number of calls that ever executed at once. */
  get maxRunning(): number {
    return this.#maxRunning;
  }

  /** Host names of the recorded calls, in order. */
  get hosts(): string[] {
    return this.calls.map((c) => c.req.host);
  }

  /** Records the call, waits for the gate, then answers; an abort answers `aborted`. */
  async execute(req: ExecuteRequest, signal?: AbortSignal): Promise<ExecuteOutcome> {
    this.calls.push({ req: { ...req }, signal });
    this.#running++;
    this.#maxRunning = Math.max(this.#maxRunning, this.#running);
    this.#notify();
    try {
      if (signal?.aborted) return aborted(signal);
      if (this.gate !== undefined) {
        const stop = await waitOrAbort(this.gate, signal);
        if (stop) return aborted(signal!);
      }
      const fixed = this.byHost[req.host];
      if (fixed !== undefined) return fixed;
      return typeof this.outcome === "function" ? await this.outcome(req, signal) : this.outcome;
    } finally {
      this.#running--;
      this.#notify();
    }
  }

  /** Resolves once at least `count` calls were made; rejects with `signal.reason` on abort. */
  waitForCalls(count: number, signal?: AbortSignal): Promise<void> {
    return this.#waitFor(() => this.calls.length >= count, signal);
  }

  /** Resolves once exactly `count` calls are executing at the same time. */
  waitForRunning(count: number, signal?: AbortSignal): Promise<void> {
    return this.#waitFor(() => this.#running === count, signal);
  }

  #waitFor(done: () => boolean, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason);
      };
      const cleanup = () => {
        this.#waiters.delete(check);
        signal?.removeEventListener("abort", onAbort);
      };
      this.#waiters.add(check);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #notify(): void {
    for (const check of [...this.#waiters]) check();
  }
}

function aborted(signal: AbortSignal): ExecuteOutcome {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  return { kind: "aborted", detail: `fake execution aborted: ${reason}` };
}

/** Waits for `gate`; true when `signal` aborted first. Leaves no listener behind. */
function waitOrAbort(gate: Promise<unknown>, signal?: AbortSignal): Promise<boolean> {
  if (signal === undefined) return gate.then(() => false, () => false);
  return new Promise((resolve) => {
    const onAbort = () => resolve(true);
    signal.addEventListener("abort", onAbort, { once: true });
    gate.then(() => false, () => false).then((stop) => {
      signal.removeEventListener("abort", onAbort);
      resolve(stop);
    });
  });
}
