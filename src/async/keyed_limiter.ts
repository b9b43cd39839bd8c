/**
 * A concurrency limiter with per-key exclusion and optional per-group caps.
 * @module
 */

/** Options for {@linkcode KeyedLimiter}. */
export interface KeyedLimiterOptions {
  /** Most leases held at once overall; an integer >= 1 or `Infinity`. Required. */
  limit: number;
}

/** Options for {@linkcode KeyedLimiter.tryAcquire}. */
export interface TryAcquireOptions {
  /** Group the lease counts against, e.g. a rack or a service. Default: none. */
  groupKey?: string;
  /**
   * Most leases held at once for `groupKey`, this one included; an integer
   * >= 1 or `Infinity`. Needs `groupKey`. Each request is judged by its own
   * `groupLimit`. Default: `Infinity`.
   */
  groupLimit?: number;
}

/** Options for {@linkcode KeyedLimiter.acquire}. */
export interface AcquireOptions extends TryAcquireOptions {
  /** Aborting it while waiting rejects with `signal.reason` and leaves the queue. Default: none. */
  signal?: AbortSignal;
}

/** A held slot. Release it exactly when the work is done; extra calls do nothing. */
export interface Lease extends Disposable {
  /** The key this lease holds. */
  readonly key: string;
  /** Gives the slot back and serves the next eligible waiter. Idempotent. */
  release(): void;
}

interface _Waiter {
  key: string;
  groupKey: string | undefined;
  groupLimit: number;
  resolve(lease: Lease): void;
}

/**
 * Hands out leases on keys (e.g. host names) such that at most `limit` are
 * held overall, at most one per key, and at most `groupLimit` per `groupKey`.
 *
 * Waiters are served first-come first-served **among eligible waiters**: a
 * waiter that cannot be served yet (its key is held, or its group is full)
 * does not hold up a later waiter that can. An eligible waiter is never
 * overtaken by a later one: whenever a slot frees up (a release, a raised
 * limit) the queue is scanned in arrival order.
 *
 * Acquiring a key you already hold waits for yourself: don't.
 *
 * @example
 * ```ts
 * const limiter = new KeyedLimiter({ limit: 10 });
 * using lease = await limiter.acquire(host, { groupKey: rack, groupLimit: 2, signal });
 * await restart(host, { signal });
 * ```
 */
export class KeyedLimiter {
  #limit: number;
  readonly #held = new Map<string, string | undefined>();
  readonly #groupCounts = new Map<string, number>();
  readonly #queue: _Waiter[] = [];

  /** Creates a limiter; throws a `RangeError` if `limit` is invalid. */
  constructor(options: KeyedLimiterOptions) {
    this.#limit = _checkLimit("limit", options?.limit);
  }

  /** The current overall limit. */
  get limit(): number {
    return this.#limit;
  }

  /** How many leases are held. May exceed `limit` for a while after `setLimit` lowers it. */
  get held(): number {
    return this.#held.size;
  }

  /** How many `acquire` calls are queued. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Whether a lease on `key` is held. */
  isHeld(key: string): boolean {
    return this.#held.has(key);
  }

  /**
   * Changes the overall limit live (e.g. on config reload). Raising it serves
   * waiters at once; lowering it revokes nothing, new leases just wait until
   * enough are released.
   */
  setLimit(limit: number): void {
    this.#limit = _checkLimit("limit", limit);
    this.#serve();
  }

  /** Takes a lease on `key` now if every rule allows it; otherwise returns `undefined`. */
  tryAcquire(key: string, options: TryAcquireOptions = {}): Lease | undefined {
    const request = _request(key, options);
    if (!this.#eligible(request)) return undefined;
    return this.#grant(request);
  }

  /**
   * Resolves with a lease on `key` once every rule allows it. Rejects with
   * `signal.reason` if the signal is already aborted or aborts while waiting
   * (the request leaves the queue). Throws a `TypeError`/`RangeError` on bad input.
   */
  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let request: Omit<_Waiter, "resolve">;
    try {
      request = _request(key, options);
    } catch (error) {
      return Promise.reject(error);
    }
    // No queued waiter is ever eligible (we serve after every change), so
    // taking a free slot now cannot jump ahead of one that could run.
    if (this.#eligible(request)) return Promise.resolve(this.#grant(request));
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#queue.indexOf(waiter);
        if (i !== -1) this.#queue.splice(i, 1);
        reject(signal!.reason);
      };
      const waiter: _Waiter = {
        ...request,
        resolve: (lease) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(lease);
        },
      };
      this.#queue.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #eligible(request: Omit<_Waiter, "resolve">): boolean {
    if (this.#held.size >= this.#limit || this.#held.has(request.key)) return false;
    if (request.groupKey === undefined) return true;
    return (this.#groupCounts.get(request.groupKey) ?? 0) < request.groupLimit;
  }

  #grant(request: Omit<_Waiter, "resolve">): Lease {
    const { key, groupKey } = request;
    this.#held.set(key, groupKey);
    if (groupKey !== undefined) {
      this.#groupCounts.set(groupKey, (this.#groupCounts.get(groupKey) ?? 0) + 1);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#held.delete(key);
      if (groupKey !== undefined) {
        const left = this.#groupCounts.get(groupKey)! - 1;
        if (left === 0) this.#groupCounts.delete(groupKey);
        else this.#groupCounts.set(groupKey, left);
      }
      this.#serve();
    };
    return { key, release, [Symbol.dispose]: release };
  }

  /** Grants every waiter that has become eligible, in arrival order. */
  #serve(): void {
    for (let i = 0; i < this.#queue.length && this.#held.size < this.#limit;) {
      const waiter = this.#queue[i]!;
      if (this.#eligible(waiter)) {
        this.#queue.splice(i, 1);
        waiter.resolve(this.#grant(waiter));
      } else {
        i++;
      }
    }
  }
}

function _request(key: string, options: TryAcquireOptions): Omit<_Waiter, "resolve"> {
  if (typeof key !== "string") {
    throw new TypeError(`Cannot acquire: key must be a string, got ${typeof key}`);
  }
  const { groupKey, groupLimit } = options;
  if (groupKey !== undefined && typeof groupKey !== "string") {
    throw new TypeError(`Cannot acquire ${key}: groupKey must be a string, got ${typeof groupKey}`);
  }
  if (groupLimit !== undefined && groupKey === undefined) {
    throw new TypeError(`Cannot acquire ${key}: groupLimit needs a groupKey`);
  }
  return {
    key,
    groupKey,
    groupLimit: groupLimit === undefined ? Infinity : _checkLimit("groupLimit", groupLimit),
  };
}

function _checkLimit(name: string, value: number): number {
  if (!(value >= 1 && (Number.isInteger(value) || value === Infinity))) {
    throw new RangeError(`Invalid ${name}: expected an integer >= 1 or Infinity, got ${value}`);
  }
  return value;
}
