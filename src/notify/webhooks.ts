/**
 * Webhook notifications (`notify.webhooks`): each notification whose phase a
 * webhook lists is queued for it — synchronously, in O(1), never blocking the
 * pipeline — and POSTed in the background, one request in flight per
 * webhook, retried with capped exponential backoff on network errors,
 * timeouts, 5xx and 429. A full queue drops the new notification (counted).
 * A webhook's URL may hold a secret (a Slack webhook's path does): logs and
 * metric labels show only its scheme and host.
 * @module
 */
import { _backoffDelay, _resolveBackoffOptions, type BackoffOptions } from "../async/backoff.ts";
import { delay } from "../async/mod.ts";
import { errorMessage, log } from "../log.ts";
import type { DeadLetter, RestartEvent } from "../contract/messages.ts";
import type { EventSink } from "../pipeline/events.ts";
import { originOnly } from "../url.ts";
import { BoundedQueue } from "./bounded_queue.ts";
import {
  type Notification,
  notificationBody,
  type NotifyFormat,
  type NotifyPhase,
} from "./notification.ts";
import { type Fetch, postJson } from "./post.ts";

/** One webhook, as in the config's `notify.webhooks`. */
export interface WebhookSettings {
  /** Where to POST; http(s), secrets already expanded. */
  url: string;
  /** The phases it is told about. */
  phases: readonly NotifyPhase[];
  /** The body: the notification as JSON, or a Slack message. */
  format: NotifyFormat;
  /** Time limit of one POST. */
  timeoutSec: number;
  /** Tries after the first one, on network errors, timeouts, 5xx and 429. */
  retries: number;
  /** Most notifications waiting for it; more are dropped. */
  queueSize: number;
}

/** How a notification ended, for one webhook: the `mandrill_notify_<result>_total` counters. */
export type NotifyResult = "sent" | "failed" | "dropped";

/** Counts notifications by webhook and result; `Metrics` is one. */
export interface NotifyMetrics {
  /** Counts `n` (default 1; 0 only makes the series appear) notifications of `webhook` that ended in `result`. */
  onNotify(webhook: string, result: NotifyResult, n?: number): void;
}

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

/** The `webhook` label of a webhook: its index in the config and its host, never its path. */
export function webhookLabel(index: number, url: string): string {
  try {
    return `${index}:${new URL(url).host}`;
  } catch {
    return String(index);
  }
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

interface _WebhookOptions extends WebhooksOptions {
  backoff: ReturnType<typeof _resolveBackoffOptions>;
}

/** One webhook: its queue, and the loop that sends what is in it. */
class _Webhook {
  readonly #s: WebhookSettings;
  readonly #o: _WebhookOptions;
  readonly #phases: ReadonlySet<NotifyPhase>;
  readonly #queue: BoundedQueue<Notification>;
  readonly #label: string;
  /** The URL as logs show it: scheme and host. */
  readonly #shown: string;
  /** Each secret part of the URL, longest first, with what logs show instead. */
  readonly #secrets: [string, string][];
  readonly #stop = new AbortController();
  #finishing = false;
  #wake: (() => void) | undefined;
  /** Warned about failures or a full queue; quiet until it recovers (one WARN per streak). */
  #failing = false;
  #overflowing = false;
  readonly done: Promise<void>;

  constructor(settings: WebhookSettings, index: number, options: _WebhookOptions) {
    this.#s = settings;
    this.#o = options;
    this.#phases = new Set(settings.phases);
    this.#queue = new BoundedQueue(settings.queueSize);
    this.#label = webhookLabel(index, settings.url);
    this.#shown = originOnly(settings.url);
    this.#secrets = _secretsOf(settings.url, this.#shown);
    for (const result of ["sent", "failed", "dropped"] as const) this.#count(result, 0);
    log("notify").info("Webhook {webhook} ({url}, {format}) is told about {phases}", {
      webhook: this.#label,
      url: this.#shown,
      format: settings.format,
      phases: settings.phases.join(", "),
    });
    this.done = this.#run().catch((err) => {
      this.#finishing = true; // a bug: what comes later is dropped, counted
      const dropped = this.#queue.clear();
      this.#count("dropped", dropped);
      log("notify").error("Webhook {webhook} ({url}) stopped sending: {error}", {
        webhook: this.#label,
        url: this.#shown,
        error: this.#scrub(errorMessage(err)),
      });
    });
  }

  /** Queues `n` if this webhook lists its phase; drops it (counted) when the queue is full or closed. */
  enqueue(n: Notification): void {
    if (!this.#phases.has(n.phase)) return;
    if (this.#finishing || !this.#queue.push(n)) {
      this.#count("dropped");
      if (this.#finishing || this.#overflowing) return;
      this.#overflowing = true;
      log("notify").warn(
        "Webhook {webhook} ({url}) has {size} notifications waiting: dropping new ones until it catches up (mandrill_notify_dropped_total)",
        { webhook: this.#label, url: this.#shown, size: this.#queue.capacity },
      );
      return;
    }
    this.#wake?.();
  }

  /** Takes no more notifications; the loop ends once the queue is empty. */
  finish(): void {
    this.#finishing = true;
    this.#wake?.();
  }

  /** Abandons the POST in flight and everything queued, counting them as dropped. */
  abort(): void {
    this.#finishing = true;
    this.#stop.abort(new Error("notifications closed"));
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    while (true) {
      if (stop.aborted) {
        const dropped = this.#queue.clear();
        this.#count("dropped", dropped);
        if (dropped > 0) {
          log("notify").warn(
            "Webhook {webhook} ({url}): {dropped} notifications not sent by shutdown",
            {
              webhook: this.#label,
              url: this.#shown,
              dropped,
            },
          );
        }
        return;
      }
      const n = this.#queue.shift();
      if (n === undefined) {
        this.#overflowing = false;
        if (this.#finishing) return;
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = undefined;
        continue;
      }
      this.#count(await this.#deliver(n));
    }
  }

  /** POSTs `n`, retrying as the settings say; how it ended. */
  async #deliver(n: Notification): Promise<NotifyResult> {
    const { url, retries, timeoutSec } = this.#s;
    const body = notificationBody(n, this.#s.format);
    const signal = this.#stop.signal;
    for (let attempt = 1;; attempt++) {
      const outcome = await postJson(url, body, {
        timeoutMs: timeoutSec * 1000,
        signal,
        fetch: this.#o.fetch,
      });
      switch (outcome.kind) {
        case "ok":
          if (this.#failing) {
            this.#failing = false;
            log("notify").info("Webhook {webhook} ({url}) takes notifications again", {
              webhook: this.#label,
              url: this.#shown,
            });
          }
          return "sent";
        case "aborted":
          return "dropped";
        case "reject":
          this.#failed(n, outcome.why, attempt);
          return "failed";
        case "retry":
          if (attempt > retries) {
            this.#failed(n, outcome.why, attempt);
            return "failed";
          }
      }
      try {
        await delay(_backoffDelay(attempt, this.#o.backoff), { signal });
      } catch {
        return "dropped"; // closed while waiting to try again
      }
    }
  }

  #failed(n: Notification, why: string, attempts: number): void {
    if (this.#failing) return;
    this.#failing = true;
    log("notify").warn(
      "Cannot notify webhook {webhook} ({url}) of {phase} after {attempts} tries: {why}; further failures only count in mandrill_notify_failed_total until one gets through",
      {
        webhook: this.#label,
        url: this.#shown,
        phase: n.phase,
        attempts,
        why: this.#scrub(why),
      },
    );
  }

  /** `text` with the URL's secret parts replaced: network errors name the URL they failed on. */
  #scrub(text: string): string {
    let out = text;
    for (const [secret, shown] of this.#secrets) out = out.split(secret).join(shown);
    return out;
  }

  #count(result: NotifyResult, n = 1): void {
    this.#o.metrics?.onNotify(this.#label, result, n);
  }
}

/** The parts of `url` that must not reach a log, longest first, each with its stand-in. */
function _secretsOf(url: string, shown: string): [string, string][] {
  const out: [string, string][] = [[url, shown]];
  try {
    const u = new URL(url);
    out.push([u.href, shown], [`${u.pathname}${u.search}${u.hash}`, "/…"]);
    if (u.password) out.push([u.password, "***"]);
    if (u.username) out.push([u.username, "***"]);
  } catch { /* not a URL: only the text as given */ }
  return out.filter(([s]) => s.length > 1).sort(([a], [b]) => b.length - a.length);
}
