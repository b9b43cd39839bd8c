/**
 * The controller's gauges that mirror live state (inbox, MQTT link, fleet,
 * store, waiting and unavailable hosts, event-loop lag, the process's memory),
 * read through callbacks at scrape time. A source that throws leaves its gauge
 * as it was and is logged once per failure streak.
 * @module
 */
import { Gauge, type Registry } from "prom-client";
import { errorMessage, log } from "../log.ts";
import type { WaitCode } from "../pipeline/policy.ts";
import type { Unavailability } from "../restart/budget.ts";

/** Every value of the `state` label of `mandrill_hosts_unavailable`. */
export const UNAVAILABLE_STATES: readonly Unavailability[] = [
  "restarting",
  "coming_back",
  "not_back",
  "offline",
  "stale",
];

/** Live values read at scrape time. Each is optional; a missing one leaves its gauge at 0. */
export interface MetricsSources {
  /** Rows pending in the inbox, e.g. `() => store.counts().pending`. */
  inboxPending?: () => number;
  /** Whether the MQTT link is up, e.g. `() => conn.connected`. */
  mqttConnected?: () => boolean;
  /** Event-loop lag in seconds, e.g. `() => lagMonitor.lagSeconds`. */
  eventLoopLagSeconds?: () => number;
  /**
   * Work in flight, e.g. `() => dispatcher.inFlight().length`. Default: the
   * count of restarts between their `started` phase and their end, as seen
   * through `Metrics.onPhase`.
   */
  inflight?: () => number;
  /** Hosts in the fleet view, e.g. `() => fleet.size`. */
  fleetHosts?: () => number;
  /** Hosts whose agent is online. */
  fleetOnline?: () => number;
  /** Whether the store takes writes now (`false` while a commit fails: a full disk, PostgreSQL unreachable). */
  storeWritable?: () => boolean;
  /** Requests waiting for the unavailability budget, by why. */
  waiting?: () => Record<WaitCode | "store", number>;
  /** Unavailable hosts, each with why. */
  unavailable?: () => ReadonlyMap<string, Unavailability>;
}

/** Options of {@linkcode LiveGauges}. */
export interface LiveGaugesOptions {
  /** The sources known at construction. Default: none. */
  sources?: MetricsSources;
  /** Restarts in flight as counted from phases, when `sources.inflight` is missing or fails. Default: 0. */
  executing?: () => number;
}

/** The live gauges of `mandrill_*`, on `registry`, reading their {@linkcode MetricsSources}. */
export class LiveGauges {
  #sources: MetricsSources;
  readonly #executing: () => number;
  readonly #registry: Registry;
  readonly #failedSources = new Set<string>();

  /** Registers every live gauge on `registry`. */
  constructor(registry: Registry, options: LiveGaugesOptions = {}) {
    this.#registry = registry;
    this.#sources = options.sources ?? {};
    this.#executing = options.executing ?? (() => 0);
    const p = "mandrill_";
    const src = () => this.#sources;
    this.#gauge(`${p}inflight`, "Restarts in flight.", () => this.#inflight());
    this.#gauge(`${p}inbox_pending`, "Inbox rows waiting to be dispatched.", () => {
      return this.#read("inboxPending", () => src().inboxPending?.());
    });
    this.#gauge(`${p}mqtt_connected`, "1 while connected to the broker, else 0.", () => {
      const up = this.#read("mqttConnected", () => src().mqttConnected?.());
      return up === undefined ? undefined : up ? 1 : 0;
    });
    this.#gauge(`${p}fleet_hosts`, "Hosts known from agents' heartbeats and status.", () => {
      return this.#read("fleetHosts", () => src().fleetHosts?.());
    });
    this.#gauge(`${p}fleet_hosts_online`, "Hosts whose agent is online.", () => {
      return this.#read("fleetOnline", () => src().fleetOnline?.());
    });
    this.#gauge(`${p}event_loop_lag_seconds`, "Recent worst event-loop lag.", () => {
      return this.#read("eventLoopLagSeconds", () => src().eventLoopLagSeconds?.());
    });
    this.#gauge(
      `${p}store_writable`,
      "1 while the store takes writes, 0 while its commits fail (nothing is acknowledged or started meanwhile).",
      () => {
        const ok = this.#read("storeWritable", () => src().storeWritable?.());
        return ok === undefined ? undefined : ok ? 1 : 0;
      },
    );
    // The process's own memory (prom-client's default metrics do not run under Deno).
    this.#gauge(`${p}process_resident_memory_bytes`, "Resident memory of the process.", () => {
      return this.#read("memory", () => Deno.memoryUsage().rss);
    });
    this.#gauge(`${p}heap_used_bytes`, "JavaScript heap in use (V8).", () => {
      return this.#read("memory", () => Deno.memoryUsage().heapUsed);
    });
    const read = <T>(name: string, fn: () => T | undefined) => this.#read(name, fn);
    new Gauge({
      name: `${p}requests_waiting`,
      help:
        "Requests waiting, by reason: the unavailability budget (group or fleet), or a shared store that cannot be reached (store).",
      labelNames: ["reason"],
      registers: [registry],
      collect() {
        const counts = read("waiting", () => src().waiting?.());
        for (const reason of ["group", "fleet", "store"] as const) {
          this.set({ reason }, counts?.[reason] ?? 0);
        }
      },
    });
    new Gauge({
      name: `${p}hosts_unavailable`,
      help:
        "Hosts unavailable now, by state: restarting, coming_back, not_back (mandrill's restarts), offline, stale (agents).",
      labelNames: ["state"],
      registers: [registry],
      collect() {
        const down = read("unavailable", () => src().unavailable?.());
        const counts = new Map<string, number>(UNAVAILABLE_STATES.map((s) => [s, 0]));
        for (const state of down?.values() ?? []) counts.set(state, (counts.get(state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
  }

  /** Adds or replaces sources once the parts they read exist. */
  bind(sources: MetricsSources): void {
    this.#sources = { ...this.#sources, ...sources };
  }

  #inflight(): number {
    if (!this.#sources.inflight) return this.#executing();
    return this.#read("inflight", () => this.#sources.inflight?.()) ?? this.#executing();
  }

  #gauge(name: string, help: string, read: () => number | undefined): void {
    new Gauge({
      name,
      help,
      registers: [this.#registry],
      collect() {
        const v = read();
        if (v !== undefined) this.set(v);
      },
    });
  }

  /** Reads a source; a source that throws must not break the scrape (logged once). */
  #read<T>(name: string, fn: () => T | undefined): T | undefined {
    try {
      const v = fn();
      this.#failedSources.delete(name);
      return v;
    } catch (err) {
      if (!this.#failedSources.has(name)) {
        this.#failedSources.add(name);
        log("http").warn("Metrics source {name} failed: {error}", {
          name,
          error: errorMessage(err),
        });
      }
      return undefined;
    }
  }
}
