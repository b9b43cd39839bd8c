/**
 * Sync markers: `{"sync": "<id>"}`, published by mandrill on a topic it
 * subscribes, to learn that the broker delivers that topic to it (and, for a
 * retained topic, that the retained message came first). Every instance
 * ignores every marker; only the one that sent it waits for it.
 * @module
 */

/** The payload of a sync marker. */
export function syncMarkerPayload(id: string): string {
  return JSON.stringify({ sync: id });
}

/** The id of a sync marker in `payload`, or undefined when it is not one. */
export function syncMarkerId(payload: Uint8Array): string | undefined {
  if (payload.byteLength > 200) return undefined;
  try {
    const v = JSON.parse(new TextDecoder().decode(payload));
    return typeof v === "object" && v !== null && typeof v.sync === "string" &&
        Object.keys(v).length === 1
      ? v.sync
      : undefined;
  } catch {
    return undefined;
  }
}

/** Waiters for sync markers by id. */
export class SyncWaiters {
  readonly #waiters = new Map<string, () => void>();

  /** Resolves when marker `id` arrives; rejects with `signal.reason` if aborted first. */
  wait(id: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(id);
        reject(signal.reason);
      };
      this.#waiters.set(id, () => {
        this.#waiters.delete(id);
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** If `payload` is a sync marker: resolves its waiter, if any, and returns true. */
  take(payload: Uint8Array): boolean {
    const id = syncMarkerId(payload);
    if (id === undefined) return false;
    this.#waiters.get(id)?.();
    return true;
  }
}
