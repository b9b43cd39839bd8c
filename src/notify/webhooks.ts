/**
 * Webhook notifications (`notify.webhooks`): each notification whose phase a
 * webhook lists is queued for it — synchronously, in O(1), never blocking the
 * pipeline — and sent in the background by that webhook's own delivery loop.
 * Closing lets the queues drain for a bounded time.
 * @module
 */
import { _resolveBackoffOptions, type BackoffOptions } from "../async/backoff.ts";
import { delay } from "../async/mod.ts";
import type { DeadLetter, RestartEvent } from "../contract/messages.ts";
import type { EventSink } from "../pipeline/events.ts";
import type { Notification } from "./notification.ts";
import type { Fetch } from "./post.ts";
import { _Webhook, type NotifyMetrics, type WebhookSettings } from "./webhook_delivery.ts";

/** Options of {@linkcode Webhooks}. */
export interface WebhooksOptions {
  /** Counts sent, failed and dropped notifications. Default: none. */
  metrics?: NotifyMetrics;
  /** Delays between tries (see `backoffDelay`). Default: 1 s, doubling up to 30 s, full jitter. */
  backoff?: BackoffOptions;
  /** How long {@linkcode Webhooks.close} lets queued notifications go out. Default: `2_000` ms. */
  closeGraceMs?: number;
  /** The HTTP client. Default: the global `fetch`. */
  fetch?: Fetch;
}

/**
 * The webhooks of a config, as an {@linkcode EventSink} (every request event)
 * plus {@linkcode notify} for the kill switch and the breaker. Close it (or
 * dispose it) to let the queues drain for a bounded time.
 *
 * @example
 * ```ts
 * await using webhooks = new Webhooks(config.notify.webhooks, { metrics });
 * webhooks.notify({ phase: "breaker", reason: "3 failures within 3600 s", ts: Date.now() });
 * ```
 */
export class Webhooks implements EventSink, AsyncDisposable {
  readonly #hooks: _Webhook[];
  readonly #graceMs: number;
  #closed: Promise<void> | undefined;
  #lastControl: string | undefined;

  /** Starts one background sender per webhook; throws a `RangeError` for a bad option. */
  constructor(settings: readonly WebhookSettings[], options: WebhooksOptions = {}) {
    const backoff = _resolveBackoffOptions({ minDelayMs: 1_000, ...options.backoff });
    this.#graceMs = options.closeGraceMs ?? 2_000;
    this.#hooks = settings.map((s, i) => new _Webhook(s, i, { ...options, backoff }));
  }

  /** How many webhooks there are. */
  get size(): number {
    return this.#hooks.length;
  }

  /**
   * Queues `n` for every webhook that lists its phase. Synchronous, O(1) per
   * webhook. A kill switch state told already (the breaker's own pause coming
   * back from the broker, stamped a millisecond later) is not told again.
   */
  notify(n: Notification): void {
    if (n.phase === "paused" || n.phase === "resumed") {
      const key = JSON.stringify([n.phase, n.reason, n.by]);
      if (key === this.#lastControl) return;
      this.#lastControl = key;
    }
    for (const hook of this.#hooks) hook.enqueue(n);
  }

  /** Part of {@linkcode EventSink}: a request's event. */
  event(ev: RestartEvent): void {
    this.notify(ev);
  }

  /** Part of {@linkcode EventSink}: dead letters are not notified. */
  deadLetter(_dl: DeadLetter): void {}

  /**
   * Stops taking notifications, lets the queued ones go out for up to
   * `graceMs` (default `closeGraceMs`), then drops the rest (counted). Never
   * takes much longer than `graceMs`, never rejects. Idempotent.
   */
  close(graceMs: number = this.#graceMs): Promise<void> {
    this.#closed ??= this.#close(graceMs);
    return this.#closed;
  }

  async #close(graceMs: number): Promise<void> {
    if (this.#hooks.length === 0) return;
    for (const hook of this.#hooks) hook.finish();
    const drained = Promise.all(this.#hooks.map((h) => h.done));
    const timer = new AbortController();
    const first = await Promise.race([
      drained.then(() => "drained" as const),
      delay(graceMs, { signal: timer.signal }).then(() => "timeout" as const, () => "drained"),
    ]);
    timer.abort();
    if (first === "drained") return;
    for (const hook of this.#hooks) hook.abort();
    await drained;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
