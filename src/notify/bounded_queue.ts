/**
 * A first-in first-out queue of fixed capacity on a ring buffer: `push` and
 * `shift` are O(1) and never allocate after construction.
 * @module
 */

/** A FIFO queue holding at most `capacity` items; a push to a full one is refused. */
export class BoundedQueue<T> {
  readonly #items: (T | undefined)[];
  #head = 0;
  #size = 0;

  /** Throws a `RangeError` unless `capacity` is an integer >= 1. */
  constructor(capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) {
      throw new RangeError(`Invalid queue capacity: expected an integer >= 1, got ${capacity}`);
    }
    this.#items = new Array(capacity);
  }

  /** Items queued now. */
  get size(): number {
    return this.#size;
  }

  /** Most items it holds. */
  get capacity(): number {
    return this.#items.length;
  }

  /** Appends `item`; false (and nothing queued) when full. */
  push(item: T): boolean {
    if (this.#size === this.#items.length) return false;
    this.#items[(this.#head + this.#size) % this.#items.length] = item;
    this.#size++;
    return true;
  }

  /** Removes and returns the oldest item, undefined when empty. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined; // let it be collected
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
    return item;
  }

  /** Empties the queue; returns how many items it held. */
  clear(): number {
    const n = this.#size;
    this.#items.fill(undefined);
    this.#head = 0;
    this.#size = 0;
    return n;
  }
}
