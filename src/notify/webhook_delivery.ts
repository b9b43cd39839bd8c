/**
 * One webhook's delivery: its bounded queue, and the loop that POSTs what is
 * in it, one request in flight, retried with capped exponential backoff on
 * network errors, timeouts, 5xx and 429. A full queue drops the new
 * notification (counted). A webhook's URL may hold a secret (a Slack
 * webhook's path does): logs and metric labels show only its scheme and host.
 * @module
 */
import { _backoffDelay, type _ResolvedBackoffOptions } from "../async/backoff.ts";
import { delay } from "../async/mod.ts";
import { errorMessage, log } from "../log.ts";
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

/** The `webhook` label of a webhook: its index in the config and its host, never its path. */
export function webhookLabel(index: number, url: string): string {
  try {
    return `${index}:${new URL(url).host}`;
  } catch {
    return String(index);
  }
}

/** Options of {@linkcode _Webhook}. */
export interface _WebhookOptions {
  /** Counts sent, failed and dropped notifications. Default: none. */
  metrics?: NotifyMetrics;
  /** Delays between tries, resolved. Required. */
  backoff: _ResolvedBackoffOptions;
  /** The HTTP client. Default: the global `fetch`. */
  fetch?: Fetch;
}

/** One webhook: its queue, and the loop that sends what is in it. */
export class _Webhook {
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
  /** Resolves once the loop has ended; never rejects. */
  readonly done: Promise<void>;

  /** Starts the loop that sends what is queued. */
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
