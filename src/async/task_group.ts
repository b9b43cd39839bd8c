/**
 * A nursery: structured concurrency for a set of tasks that share a fate.
 * @module
 */

/** Options for {@linkcode TaskGroup}. */
export interface TaskGroupOptions {
  /** Parent signal: when it aborts, the group aborts with the same reason. Default: none. */
  signal?: AbortSignal;
  /** Shown in error messages. Default: none. */
  name?: string;
}

/** Options for {@linkcode TaskGroup.spawn}. */
export interface SpawnOptions {
  /**
   * When `true`, the task's failure is collected but does not abort the
   * group, so its siblings keep running. Default: `false`.
   */
  independent?: boolean;
  /** Shown in the `AggregateError` message if the task fails. Default: none. */
  name?: string;
}

/**
 * Runs tasks that share one abort signal and are always waited for.
 *
 * - A failing task (unless spawned `independent`) aborts the group, with its
 *   error as `signal.reason`, so its siblings stop.
 * - `wait()` and `await using` return only when every task has settled, then
 *   throw an `AggregateError` of the errors collected. A task rejecting with
 *   the group's own abort reason is cancellation, not an error.
 * - Every task promise is observed: nothing floats, nothing is unhandled.
 *
 * @example
 * ```ts
 * await using group = new TaskGroup({ signal, name: "restart wave 3" });
 * for (const host of wave) {
 *   group.spawn((signal) => restart(host, { signal }), { name: host });
 * }
 * // Leaving the block waits for every restart and throws if any failed.
 * ```
 */
export class TaskGroup implements AsyncDisposable {
  /** The group's name, from the options. */
  readonly name: string | undefined;
  readonly #controller = new AbortController();
  readonly #signal: AbortSignal;
  #size = 0;
  #closed = false;
  #errors: unknown[] = [];
  #failedNames: string[] = [];
  #idle: PromiseWithResolvers<void> | undefined;

  /** Creates an empty group, aborted already if `options.signal` is. */
  constructor(options: TaskGroupOptions = {}) {
    this.name = options.name;
    // AbortSignal.any forwards the parent's reason and holds no strong listener on it.
    this.#signal = options.signal === undefined
      ? this.#controller.signal
      : AbortSignal.any([options.signal, this.#controller.signal]);
  }

  /**
   * Aborted when `abort()` is called, the parent signal aborts, or a
   * non-independent task fails. Hand it to anything the tasks start.
   */
  get signal(): AbortSignal {
    return this.#signal;
  }

  /** How many tasks have been spawned and not yet settled. */
  get size(): number {
    return this.#size;
  }

  /** Whether the group has been disposed; `spawn` then throws. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts `fn(group.signal)` on the next microtask and tracks it. If the
   * group is aborted by then, `fn` is not called and the task rejects with
   * the abort reason.
   *
   * Returns the task's own result. That promise is already observed, so
   * ignoring it is safe; awaiting it gives the value or the error (which is
   * also collected by the group).
   *
   * Throws a `TypeError` if the group is closed.
   */
  spawn<T>(fn: (signal: AbortSignal) => Promise<T>, options: SpawnOptions = {}): Promise<T> {
    if (this.#closed) {
      throw new TypeError(`Cannot spawn into task group${this.#label()}: it is closed`);
    }
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot spawn into task group${this.#label()}: fn is not a function`);
    }
    const { independent = false, name } = options;
    const signal = this.#signal;
    this.#size++;
    const task = (async () => {
      await undefined;
      signal.throwIfAborted();
      return await fn(signal);
    })();
    task.then(
      () => this.#settled(),
      (error: unknown) => {
        this.#fail(error, independent, name);
        this.#settled();
      },
    );
    return task;
  }

  /** Aborts the group: its signal aborts with `reason`. Tasks keep being waited for. */
  abort(reason?: unknown): void {
    this.#controller.abort(reason);
  }

  /**
   * Resolves once every task, including ones spawned meanwhile, has settled.
   * Then throws an `AggregateError` of the errors collected since the last
   * `wait()`; each error is reported once.
   *
   * It takes no signal on purpose: it never abandons running tasks. To make
   * it return sooner, abort the group (or its parent signal). Cancellation is
   * not an error: check your own signal afterwards if you need to know.
   */
  async wait(): Promise<void> {
    while (this.#size > 0) await this.#whenIdle();
    this.#throwCollected();
  }

  /**
   * Waits like `wait()` (it aborts nothing), then closes the group. Used by
   * `await using`, so no task outlives the block.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    while (this.#size > 0) await this.#whenIdle();
    // Close in the same turn as the last check, so nothing can slip in between.
    this.#closed = true;
    this.#throwCollected();
  }

  #whenIdle(): Promise<void> {
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  #throwCollected(): void {
    const errors = this.#errors;
    const names = this.#failedNames;
    this.#errors = [];
    this.#failedNames = [];
    if (errors.length === 0) return;
    const which = names.length > 0 ? ` (${names.join(", ")})` : "";
    throw new AggregateError(
      errors,
      `${errors.length} task(s) failed in task group${this.#label()}${which}`,
    );
  }

  #fail(error: unknown, independent: boolean, name: string | undefined): void {
    // A task that stops because we aborted it is not a failure.
    if (this.#signal.aborted && error === this.#signal.reason) return;
    this.#errors.push(error);
    if (name !== undefined) this.#failedNames.push(name);
    if (!independent) this.#controller.abort(error);
  }

  #settled(): void {
    this.#size--;
    if (this.#size === 0 && this.#idle !== undefined) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
  }

  #label(): string {
    return this.name === undefined ? "" : ` "${this.name}"`;
  }
}
