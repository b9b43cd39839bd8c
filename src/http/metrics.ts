/**
 * Prometheus metrics of the controller, on a registry of their own (never
 * prom-client's global one, so tests can build several side by side). The
 * controller feeds the counters and histograms through a few `onXxx` hooks
 * that match the dispatcher's and intake's callbacks; the gauges that mirror
 * live state are {@linkcode LiveGauges}, read at scrape time.
 * @module
 */
import { Counter, Histogram, Registry } from "prom-client";
import type { Phase } from "../contract/messages.ts";
import type { IntakeResult } from "../intake/intake.ts";
import type { PhaseInfo } from "../restart/restart_types.ts";
import { SKIP_CODES } from "../pipeline/policy.ts";
import type { NotifyMetrics, NotifyResult } from "../notify/mod.ts";
import { LiveGauges, type MetricsSources } from "./live_gauges.ts";

export type { PhaseInfo } from "../restart/restart_types.ts";

/** Every value of the `reason` label of `mandrill_skips_total`: the gate's codes, and "other". */
export const SKIP_REASON_LABELS = [...SKIP_CODES, "other"] as const;

/** Every value of the `result` label of `mandrill_requests_total`. */
export const REQUEST_RESULTS = [
  "received",
  "rejected",
  "duplicate",
  "succeeded",
  "failed",
  "skipped",
  "interrupted",
] as const;
/** One value of the `result` label of `mandrill_requests_total`. */
export type RequestResult = typeof REQUEST_RESULTS[number];

/** Options of {@linkcode Metrics}. */
export interface MetricsOptions extends MetricsSources {
  /** Buckets of `mandrill_restart_duration_seconds`. Default: 0.1 s to 5 min. */
  durationBuckets?: number[];
  /** Buckets of `mandrill_recovery_seconds`. Default: 5 s to 1 h. */
  recoveryBuckets?: number[];
}

const _DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const _RECOVERY_BUCKETS = [5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];
const _TERMINAL: ReadonlySet<Phase> = new Set(["succeeded", "failed", "interrupted"]);

/** The controller's Prometheus metrics, rendered by `GET /metrics`. */
export class Metrics implements NotifyMetrics {
  /** The registry holding every metric below (own, not prom-client's global one). */
  readonly registry: Registry = new Registry();
  readonly #live: LiveGauges;
  #executing = 0;

  readonly #requests: Counter<"result">;
  readonly #skips: Counter<"reason">;
  readonly #restarts: Counter<"executor" | "outcome">;
  readonly #duration: Histogram<"executor">;
  readonly #recovery: Histogram;
  readonly #deadletters: Counter;
  readonly #unhandled: Counter;
  readonly #reloads: Counter<"result">;
  readonly #breakerTrips: Counter;
  readonly #notify: Record<NotifyResult, Counter<"webhook">>;

  /** Builds every metric on a fresh registry; `options` documents the defaults. */
  constructor(options: MetricsOptions = {}) {
    const { durationBuckets, recoveryBuckets, ...sources } = options;
    const registers = [this.registry];
    const p = "mandrill_";
    this.#requests = new Counter({
      name: `${p}requests_total`,
      help: "Restart requests by how they ended (or were received).",
      labelNames: ["result"],
      registers,
    });
    for (const result of REQUEST_RESULTS) this.#requests.inc({ result }, 0);
    this.#skips = new Counter({
      name: `${p}skips_total`,
      help: "Requests skipped by the policy gate, by reason.",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of SKIP_REASON_LABELS) this.#skips.inc({ reason }, 0);
    this.#restarts = new Counter({
      name: `${p}restarts_total`,
      help: "Restarts executed, by executor and outcome kind.",
      labelNames: ["executor", "outcome"],
      registers,
    });
    this.#duration = new Histogram({
      name: `${p}restart_duration_seconds`,
      help: "How long an executor took to restart a host, retries included.",
      labelNames: ["executor"],
      buckets: durationBuckets ?? _DURATION_BUCKETS,
      registers,
    });
    this.#recovery = new Histogram({
      name: `${p}recovery_seconds`,
      help: "From the start of a restart until the host reported a new boot.",
      buckets: recoveryBuckets ?? _RECOVERY_BUCKETS,
      registers,
    });
    this.#deadletters = new Counter({
      name: `${p}deadletters_total`,
      help: "Messages dead-lettered (invalid payloads).",
      registers,
    });
    this.#unhandled = new Counter({
      name: `${p}unhandled_errors_total`,
      help: "Errors caught by the last-resort handler.",
      registers,
    });
    this.#reloads = new Counter({
      name: `${p}config_reloads_total`,
      help: "Config reloads (SIGHUP), by result.",
      labelNames: ["result"],
      registers,
    });
    for (const result of ["ok", "error"]) this.#reloads.inc({ result }, 0);
    this.#breakerTrips = new Counter({
      name: `${p}breaker_trips_total`,
      help: "Times the breaker engaged the kill switch after too many failed restarts.",
      registers,
    });
    const notifyHelp: Record<NotifyResult, string> = {
      sent: "Notifications a webhook accepted (2xx), by webhook (index:host).",
      failed:
        "Notifications a webhook refused (4xx) or that failed after every retry, by webhook (index:host).",
      dropped:
        "Notifications dropped unsent, by webhook (index:host): its queue was full, or shutdown came first.",
    };
    this.#notify = Object.fromEntries(
      (["sent", "failed", "dropped"] as const).map((result) => [
        result,
        new Counter({
          name: `${p}notify_${result}_total`,
          help: notifyHelp[result],
          labelNames: ["webhook"],
          registers,
        }),
      ]),
    ) as Record<NotifyResult, Counter<"webhook">>;
    this.#live = new LiveGauges(this.registry, { sources, executing: () => this.#executing });
  }

  /** Counts a trip of the breaker. */
  onBreakerTrip(): void {
    this.#breakerTrips.inc();
  }

  /** Counts `n` notifications of `webhook` that ended in `result`; `n = 0` makes the series appear. */
  onNotify(webhook: string, result: NotifyResult, n = 1): void {
    this.#notify[result].inc({ webhook }, n);
  }

  /** Content type of {@linkcode render}'s output (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Adds or replaces live sources once the parts they read exist. */
  bindSources(sources: MetricsSources): void {
    this.#live.bind(sources);
  }

  /**
   * Counts one phase from the dispatcher; pass as its `onPhase`. Counts
   * `skipped`, `succeeded`, `failed`, `interrupted` in `requests_total`; a phase
   * carrying an outcome also feeds `restarts_total` and the duration histogram.
   * `received`, `rejected` and `recovered` are ignored here: they arrive through
   * {@linkcode onIntake} and {@linkcode onRecovered}.
   */
  onPhase(phase: Phase, info: PhaseInfo): void {
    if (phase === "started") {
      this.#executing++;
      return;
    }
    if (phase === "skipped") {
      this.#requests.inc({ result: "skipped" });
      this.#skips.inc({ reason: info.skipCode ?? "other" });
      return;
    }
    if (!_TERMINAL.has(phase)) return;
    this.#requests.inc({ result: phase });
    // Only a restart that went through `started` carries an outcome; a row found
    // `started` after a crash is reported as interrupted without one.
    if (info.outcome === undefined) return;
    this.#executing = Math.max(0, this.#executing - 1);
    const executor = info.executor ?? "unknown";
    this.#restarts.inc({ executor, outcome: info.outcome.kind });
    if (info.durationMs !== undefined && Number.isFinite(info.durationMs)) {
      this.#duration.observe({ executor }, Math.max(0, info.durationMs) / 1000);
    }
  }

  /**
   * Counts one intake result; pass as intake's `onResult`. Every rejection is
   * also dead-lettered, so it counts in `deadletters_total` too.
   */
  onIntake(result: IntakeResult): void {
    switch (result.kind) {
      case "accepted":
        this.#requests.inc({ result: "received" });
        break;
      case "duplicate":
        this.#requests.inc({ result: "duplicate" });
        break;
      case "rejected":
        this.#requests.inc({ result: "rejected" });
        this.#deadletters.inc();
        break;
    }
  }

  /** Counts a dead letter that did not come through {@linkcode onIntake}. */
  onDeadLetter(): void {
    this.#deadletters.inc();
  }

  /** Records how long a host took to come back, in ms since its restart started. */
  onRecovered(ms: number): void {
    if (Number.isFinite(ms)) this.#recovery.observe(Math.max(0, ms) / 1000);
  }

  /** Counts an error caught by the last-resort handler. */
  onUnhandled(_err?: unknown): void {
    this.#unhandled.inc();
  }

  /** Counts a config reload, successful or not. */
  onReload(ok: boolean): void {
    this.#reloads.inc({ result: ok ? "ok" : "error" });
  }

  /** Renders every metric in the Prometheus text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
