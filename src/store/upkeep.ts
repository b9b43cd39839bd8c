/**
 * The store's upkeep while mandrill runs: write-ahead log checkpoints, often
 * and off the intake path, and pruning of rows older than
 * `store.retentionDays`, once an hour.
 * @module
 */
import type { Clock } from "../clock.ts";
import { errorMessage, log } from "../log.ts";
import type { Store } from "./types.ts";

/**
 * How often the write-ahead log is checkpointed, ms. A small log is cheap to
 * move; a second's worth stalls the event loop for tens of ms (measured:
 * publish → executor p99 at 500/s, 25 ms with one checkpoint a second, 10 ms
 * at one per 100 ms). Nothing to do costs nothing.
 */
export const CHECKPOINT_MS = 100;
/** Pruning runs every this many checkpoints: once an hour. */
const PRUNE_EVERY_TICKS = 3_600_000 / CHECKPOINT_MS;

/** Starts the upkeep of `store` (a first round at once); dispose to stop it. */
export function startUpkeep(
  store: Store,
  options: { retentionDays: () => number; clock: Clock },
): Disposable {
  let ticks = 0;
  const prune = async () => {
    const days = options.retentionDays();
    const removed = await store.prune(options.clock.now() - days * 86_400_000);
    if (removed > 0) {
      log("store").info("Pruned {removed} requests older than {days} days", { removed, days });
    }
  };
  const maintain = () => {
    try {
      if (ticks++ % PRUNE_EVERY_TICKS === 0) {
        prune().catch((err) => {
          log("store").warn("Cannot prune old rows: {error}", { error: errorMessage(err) });
        });
      }
      store.checkpoint();
    } catch (err) {
      log("store").warn("Store maintenance failed: {error}", { error: errorMessage(err) });
    }
  };
  maintain();
  const timer = setInterval(maintain, CHECKPOINT_MS);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
