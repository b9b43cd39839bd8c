/**
 * Races a promise against a signal. Private to the async kit.
 * @module
 */

/**
 * Settles like `promise`, or rejects with `signal.reason` once the signal
 * aborts. The listener is removed when either happens, and `promise` stays
 * observed, so a rejection after the abort is never unhandled.
 */
export function _abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
