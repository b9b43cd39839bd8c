/**
 * When a store commits the execution side's writes: on the next turn of the
 * event loop after the first write of a batch (so a turn's starts, ends and
 * history share one commit), and, when a commit fails (disk full, database
 * unreachable), again with capped backoff — the writes stay queued, nothing
 * is lost, and `problem` says why for `/readyz` until a commit succeeds.
 * @module
 */
import { setImmediate } from "node:timers";
import { backoffDelay } from "../async/mod.ts";
import { errorMessage, log } from "../log.ts";

/** Options of {@linkcode CommitLoop}. */
export interface CommitLoopOptions {
  /** Commits what is queued; throws (or rejects) when it cannot. Required. */
  commit: () => void | Promise<void>;
  /** Named in logs and `problem`, e.g. `store /var/lib/mandrill/mandrill.db`. Required. */
  what: string;
  /** First retry delay, ms. Default: 100. */
  minRetryMs?: number;
  /** Longest retry delay, ms. Default: 5,000. */
  maxRetryMs?: number;
}

/** Schedules commits and retries them; see the module doc. */
export class CommitLoop {
  readonly #o: CommitLoopOptions;
  #scheduled = false;
  #running: Promise<void> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #problem: string | undefined;
  #closed = false;

  /** See {@linkcode CommitLoopOptions}. */
  constructor(options: CommitLoopOptions) {
    this.#o = options;
  }

  /** Why the last commit failed, until one succeeds. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Commits on the next turn (once, however often it is called in a turn). */
  soon(): void {
    if (this.#scheduled || this.#closed || this.#retryTimer !== undefined) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#run();
    });
  }

  /** Commits now (after a commit already running); rejects if it fails (it is retried). */
  async now(): Promise<void> {
    await this.#running;
    await this.#run(true);
  }

  async #run(rethrow = false): Promise<void> {
    // An asynchronous commit (PostgreSQL) may be running: what was written
    // since it took its batch needs a commit of its own, after it.
    while (this.#running) await this.#running;
    const attempt = (async () => {
      try {
        await this.#o.commit();
        if (this.#problem !== undefined) {
          log("store").info("The {what} takes writes again (after {n} failed commits)", {
            what: this.#o.what,
            n: this.#failures,
          });
        }
        this.#failures = 0;
        this.#problem = undefined;
      } catch (err) {
        this.#failures++;
        this.#problem = `cannot write to the ${this.#o.what}: ${errorMessage(err)}`;
        // The first failure and then every 100th: a full disk is one problem, not a flood.
        if (this.#failures === 1 || this.#failures % 100 === 0) {
          log("store").error("{problem} (attempt {n}; retrying, nothing is lost)", {
            problem: this.#problem,
            n: this.#failures,
          });
        }
        this.#retry();
        if (rethrow) throw err;
      }
    })();
    this.#running = attempt.finally(() => this.#running = undefined);
    await this.#running;
  }

  #retry(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    const ms = backoffDelay(this.#failures, {
      minDelayMs: this.#o.minRetryMs ?? 100,
      maxDelayMs: this.#o.maxRetryMs ?? 5_000,
    });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#run();
    }, ms);
  }

  /** Stops scheduling; a commit running now is waited for. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#running;
  }
}
