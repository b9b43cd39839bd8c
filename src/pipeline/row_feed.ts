/**
 * Where the dispatcher's pending rows come from, oldest first: rows taken over
 * from an instance that is gone, then rows handed over by intake as they are
 * inserted, or read back from the store — at start, after
 * {@linkcode RowFeed.wake}, and whenever the hand-over queue overflowed.
 * Memory stays bounded by {@linkcode MAX_QUEUED}.
 * @module
 */
import type { InboxRow, Store } from "../store/mod.ts";

/** Rows read or handed over at once. */
const BATCH = 256;
/** Rows held in the hand-over queue at most (beyond the window); more are read back from the store. */
const MAX_QUEUED = 8192;

/** The dispatcher's source of pending rows; see the module doc. */
export class RowFeed {
  readonly #store: Pick<Store, "nextPending">;
  readonly #onRows: () => void;
  #lastSeq = 0;
  /** Rows handed over by intake, in seq order; only used while not {@linkcode #scan}ning. */
  #queue: InboxRow[] = [];
  #queueHead = 0;
  /**
   * True while rows may be pending in the store but not in the queue: at start
   * (a previous run's rows), after {@linkcode wake}, and once the queue
   * overflowed. The store is then read from `#lastSeq` until it is drained.
   */
  #scan = true;
  /** Rows handed over while scanning (read back by the next scan instead). */
  #missedWhileScanning = 0;
  /** Rows taken over from an instance that is gone (a shared store), before anything else. */
  #adopted: InboxRow[] = [];

  /** Reads `store`'s pending rows; `onRows` is called whenever rows may have arrived. */
  constructor(store: Pick<Store, "nextPending">, onRows: () => void) {
    this.#store = store;
    this.#onRows = onRows;
  }

  /** New rows are pending in the store: read them back from there. */
  wake(): void {
    this.#scan = true;
    this.#queue = [];
    this.#queueHead = 0;
    this.#onRows();
  }

  /**
   * A row just inserted (same connection, so readable even before its group
   * commit). Rows must come in seq order; past {@linkcode MAX_QUEUED} the
   * queue is dropped and the rows are read back from the store.
   */
  enqueue(row: InboxRow): void {
    if (!this.#scan) {
      if (this.#queue.length - this.#queueHead < MAX_QUEUED) this.#queue.push(row);
      else this.wake();
    } else {
      this.#missedWhileScanning++; // the scan running may have read before this row's insert
    }
    this.#onRows();
  }

  /** Rows taken over from another instance, in any seq order: they go first, and do not move the cursor. */
  adopt(rows: readonly InboxRow[]): void {
    this.#adopted.push(...rows);
    this.#onRows();
  }

  /** The dispatcher has taken every row up to `seq` (the scan goes on after it). */
  passed(seq: number): void {
    this.#lastSeq = seq;
  }

  /** The next batch of pending rows, oldest first; `adopted` when taken over from another instance. */
  async next(): Promise<{ rows: InboxRow[]; adopted: boolean }> {
    if (this.#adopted.length > 0) return { rows: this.#adopted.splice(0, BATCH), adopted: true };
    return { rows: await this.#pending(), adopted: false };
  }

  async #pending(): Promise<InboxRow[]> {
    if (this.#scan) {
      const missed = this.#missedWhileScanning;
      const rows = await this.#store.nextPending(this.#lastSeq, BATCH);
      // Caught up — unless a row came while reading: then read once more.
      // From then on every row inserted is handed over.
      if (rows.length < BATCH && missed === this.#missedWhileScanning) this.#scan = false;
      return rows;
    }
    const rows = this.#queue.slice(this.#queueHead, this.#queueHead + BATCH);
    this.#queueHead += rows.length;
    if (this.#queueHead === this.#queue.length || this.#queueHead >= MAX_QUEUED) {
      this.#queue = this.#queue.slice(this.#queueHead); // drop what was taken
      this.#queueHead = 0;
    }
    return rows;
  }
}
