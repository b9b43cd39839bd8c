/**
 * A counting semaphore with a priority lane: at most `limit` permits held at
 * once; waiters are served first-come first-served, priority waiters before
 * all others.
 * @module
 */

/** Options of {@linkcode Semaphore.acquire}. */
export interface SemaphoreAcquireOptions {
  /** Aborting it while waiting rejects with `signal.reason` and leaves the queue. Default: none. */
  signal?: AbortSignal;
  /** Served before every non-priority waiter (still after earlier priority ones). Default: false. */
  priority?: boolean;
}

/** A held permit; release it (or dispose it) exactly when done. Extra calls do nothing. */
export interface Permit extends Disposable {
  release(): void;
}

/**
 * Bounds how many of something run at once (e.g. probe processes).
 *
 * @example
 * ```ts
 * const probes = new Semaphore(16);
 * using _permit = await probes.acquire({ signal });
 * await probe(host, signal);
 * ```
 */
export class Semaphore {
  #limit: number;
  #held = 0;
  readonly #queues: [(() => void)[], (() => void)[]] = [[], []];

  /** Throws a `RangeError` unless `limit` is an integer >= 1. */
  constructor(limit: number) {
    this.#limit = _check(limit);
  }

  /** Permits held now. */
  get held(): number {
    return this.#held;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.#queues[0].length + this.#queues[1].length;
  }

  /** Changes the limit live; raising it serves waiters at once, lowering it revokes nothing. */
  setLimit(limit: number): void {
    this.#limit = _check(limit);
    this.#serve();
  }

  /** Resolves with a permit once one is free; rejects with `signal.reason` if aborted first. */
  acquire(options: SemaphoreAcquireOptions = {}): Promise<Permit> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#held < this.#limit && this.waiting === 0) return Promise.resolve(this.#grant());
    const queue = this.#queues[options.priority ? 0 : 1];
    return new Promise<Permit>((resolve, reject) => {
      const onAbort = () => {
        const i = queue.indexOf(serve);
        if (i !== -1) queue.splice(i, 1);
        reject(signal!.reason);
      };
      const serve = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(this.#grant());
      };
      queue.push(serve);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #grant(): Permit {
    this.#held++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#held--;
      this.#serve();
    };
    return { release, [Symbol.dispose]: release };
  }

  #serve(): void {
    while (this.#held < this.#limit) {
      const next = this.#queues[0].shift() ?? this.#queues[1].shift();
      if (next === undefined) return;
      next();
    }
  }
}

function _check(limit: number): number {
  if (!(Number.isInteger(limit) && limit >= 1)) {
    throw new RangeError(`Semaphore limit must be an integer >= 1, got ${limit}`);
  }
  return limit;
}
