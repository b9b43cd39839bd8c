/**
 * Group commit for the execution side: writes made with `deferCommit` during
 * one turn of the event loop (starts, skips, history, ends) share one commit,
 * run on the next turn.
 * @module
 */
import { setImmediate } from "node:timers";
import { errorMessage, log } from "../log.ts";
import type { Store } from "./store.ts";

/** Options of {@linkcode CommitSoon}. */
export interface CommitSoonOptions {
  /** Told when a commit fails (the service treats it as fatal). Default: logged only. */
  onError?: (err: unknown) => void;
}

/** Commits the store's open batch on the next turn; see the module doc. */
export class CommitSoon {
  readonly #store: Store;
  readonly #onError: ((err: unknown) => void) | undefined;
  #pending: PromiseWithResolvers<void> | undefined;

  /** Commits `store`'s batches. */
  constructor(store: Store, options: CommitSoonOptions = {}) {
    this.#store = store;
    this.#onError = options.onError;
  }

  /**
   * Commits the open batch on the next turn of the event loop. Resolves once
   * it committed; rejects if it failed (also reported to `onError`). Callers
   * that do not wait for it need not catch.
   */
  soon(): Promise<void> {
    if (this.#pending) return this.#pending.promise;
    const commit = Promise.withResolvers<void>();
    commit.promise.catch(() => {}); // most callers do not wait for it
    this.#pending = commit;
    setImmediate(() => {
      this.#pending = undefined;
      try {
        this.#store.commitBatch();
        commit.resolve();
      } catch (err) {
        log("store").error("Cannot commit: {error}", { error: errorMessage(err) });
        this.#onError?.(err);
        commit.reject(err);
      }
    });
    return commit.promise;
  }
}
