/**
 * The status page's live feed: Server-Sent Events carrying the whole status,
 * coalesced — after a change, the next update goes out at most every
 * `minIntervalMs` (a burst of 1,000 recoveries is a handful of updates, not
 * 1,000) and at least every `refreshMs` (uptimes and staleness move on their
 * own). The status is serialised once per update for every client; a client
 * that cannot keep up skips updates (each one replaces the previous).
 * @module
 */

/** Options of {@linkcode StatusFeed}. */
export interface StatusFeedOptions {
  /** The status now, as JSON text. Required. */
  snapshot: () => string;
  /** Shortest time between two updates to a client, ms. Default: 500. */
  minIntervalMs?: number;
  /** Longest time between two updates, ms. Default: 5,000. */
  refreshMs?: number;
  /** Most clients at once; more are answered 503. Default: 64. */
  maxClients?: number;
}

const _encoder = new TextEncoder();

/** Fans the status out to SSE clients; see the module doc. Dispose to end every stream. */
export class StatusFeed implements Disposable {
  readonly #o: Required<StatusFeedOptions>;
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refresh: ReturnType<typeof setInterval> | undefined;
  #lastSent = 0;
  #sent = 0;

  /** See {@linkcode StatusFeedOptions} for the defaults. */
  constructor(options: StatusFeedOptions) {
    this.#o = { minIntervalMs: 500, refreshMs: 5_000, maxClients: 64, ...options };
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Updates sent since start (to all clients at once, counted once). */
  get updates(): number {
    return this.#sent;
  }

  /** Something changed: an update goes out soon (coalesced with others). */
  changed(): void {
    if (this.#timer !== undefined || this.#clients.size === 0) return;
    const wait = Math.max(0, this.#lastSent + this.#o.minIntervalMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#send();
    }, wait);
  }

  /**
   * A new client's response body: the status at once, then updates, until
   * the client goes away or `signal` aborts. Undefined when full.
   */
  stream(signal?: AbortSignal): ReadableStream<Uint8Array> | undefined {
    if (this.#clients.size >= this.#o.maxClients) return undefined;
    let me: ReadableStreamDefaultController<Uint8Array> | undefined;
    const leave = () => {
      if (me === undefined) return;
      this.#clients.delete(me);
      signal?.removeEventListener("abort", onAbort);
      if (this.#clients.size === 0) this.#stopRefresh();
    };
    const onAbort = () => {
      try {
        me?.close();
      } catch { /* already closed */ }
      leave();
    };
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        me = controller;
        this.#clients.add(controller);
        controller.enqueue(_encoder.encode("retry: 2000\n\n"));
        controller.enqueue(_message(this.#o.snapshot()));
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#startRefresh();
      },
      cancel: () => leave(),
    });
  }

  #send(): void {
    if (this.#clients.size === 0) return;
    this.#lastSent = Date.now();
    this.#sent++;
    const message = _message(this.#o.snapshot());
    for (const client of this.#clients) {
      // A client that has not taken the previous update skips this one.
      if ((client.desiredSize ?? 1) <= 0) continue;
      try {
        client.enqueue(message);
      } catch {
        this.#clients.delete(client);
      }
    }
  }

  #startRefresh(): void {
    this.#refresh ??= setInterval(() => this.changed(), this.#o.refreshMs);
  }

  #stopRefresh(): void {
    clearInterval(this.#refresh);
    this.#refresh = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    for (const client of this.#clients) {
      try {
        client.close();
      } catch { /* already closed */ }
    }
    this.#clients.clear();
    this.#stopRefresh();
  }
}

function _message(json: string): Uint8Array {
  return _encoder.encode(`event: status\ndata: ${json}\n\n`);
}
