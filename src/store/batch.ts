/**
 * The two write batches both stores keep. Intake's holds requests and dead
 * letters until one commit makes them durable, before their PUBACKs leave.
 * The execution side's holds ends of rows and other writes (each store's own
 * kind of operation) with what waits for their commit; a commit takes what is
 * queued at that moment and drops it only once committed, so a failed commit
 * keeps it for the retry and writes made meanwhile wait for the next one.
 * @module
 */
import type { RestartRequest } from "../contract/messages.ts";
import type { DeadLetterRow, Outcome } from "./types.ts";

/** A request waiting in the intake batch, with when it arrived. */
export interface QueuedRequest {
  req: RestartRequest;
  now: number;
}

/** What one intake commit writes. */
export interface IntakeWrites {
  requests: QueuedRequest[];
  deadLetters: DeadLetterRow[];
}

/** The intake batch; see the module doc. */
export class IntakeBatch {
  #requests: QueuedRequest[] = [];
  #deadLetters: DeadLetterRow[] = [];

  /** Adds a validated request. */
  add(req: RestartRequest, now: number): void {
    this.#requests.push({ req, now });
  }

  /** Adds a dead letter. */
  addDeadLetter(dl: DeadLetterRow): void {
    this.#deadLetters.push(dl);
  }

  /** Empties the batch: what it held, or undefined when it held nothing. */
  take(): IntakeWrites | undefined {
    const writes = { requests: this.#requests, deadLetters: this.#deadLetters };
    this.#requests = [];
    this.#deadLetters = [];
    return writes.requests.length === 0 && writes.deadLetters.length === 0 ? undefined : writes;
  }
}

/** How a row ends: its outcome, the detail and when (`finished_at`). */
export type QueuedEnd = [outcome: Outcome, detail: string | null, finishedAt: number];

/** What one execution commit writes: rows' ends by seq, the other writes, what waits for them. */
export interface ExecutionWrites<Op> {
  ends: [seq: number, end: QueuedEnd][];
  ops: Op[];
  after: (() => void)[];
}

/** The execution side's batch; see the module doc. */
export class ExecutionBatch<Op> {
  readonly #ends = new Map<number, QueuedEnd>();
  #ops: Op[] = [];
  #after: (() => void)[] = [];

  /** Ends row `seq` unless its end is already queued (the first end is kept). */
  end(seq: number, end: QueuedEnd): void {
    if (!this.#ends.has(seq)) this.#ends.set(seq, end);
  }

  /** Whether the end of row `seq` is queued. */
  ending(seq: number): boolean {
    return this.#ends.has(seq);
  }

  /** How many rows' ends are queued. */
  get endCount(): number {
    return this.#ends.size;
  }

  /** Queues a write. */
  push(op: Op): void {
    this.#ops.push(op);
  }

  /** True when no end and no write is queued. */
  get empty(): boolean {
    return this.#ends.size === 0 && this.#ops.length === 0;
  }

  /** Runs `fn` once the next commit succeeded. */
  onCommit(fn: () => void): void {
    this.#after.push(fn);
  }

  /** What is queued now, for one commit (nothing is dropped until {@linkcode committed}). */
  take(): ExecutionWrites<Op> {
    return { ends: [...this.#ends], ops: [...this.#ops], after: [...this.#after] };
  }

  /** `writes` committed: drops them (what was queued since stays) and runs what waited for them. */
  committed(writes: ExecutionWrites<Op>): void {
    for (const [seq] of writes.ends) this.#ends.delete(seq);
    this.#ops = this.#ops.slice(writes.ops.length);
    this.#after = this.#after.slice(writes.after.length);
    for (const fn of writes.after) fn();
  }
}
