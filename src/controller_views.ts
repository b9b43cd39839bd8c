/**
 * What the controller shows over HTTP: the status page's view
 * (`/api/status`) and when it changed (the live feed), work in flight
 * (`/debug/tasks`), the inbox's pending count (`/metrics`), and readiness
 * (`/readyz`).
 * @module
 */
import type { Clock } from "./clock.ts";
import { buildStatus, type Status } from "./status/model.ts";
import type { Store } from "./store/mod.ts";
import { redactUrl } from "./url.ts";
import { VERSION } from "./version.ts";
import type { Working } from "./controller_run.ts";

/** The status page's view of everything. */
export function statusOf(w: Working): Status {
  const { config, topology } = w.live;
  return buildStatus({
    version: VERSION,
    now: w.clock.now(),
    topology,
    hosts: Object.keys(config.hosts),
    limits: config.policy,
    fleet: w.fleet,
    budget: w.budget,
    ledger: w.ledger,
    paused: w.killSwitch.paused(),
    inFlight: w.dispatcher.inFlight(),
    restarts: w.restarts.lives(),
    recent: w.restarts.recent(),
  });
}

/** Who is told that something the status shows changed. */
export class StatusChanges {
  readonly #listeners = new Set<() => void>();

  /** Calls `listener` after each change. Dispose to stop. */
  on(listener: () => void): Disposable {
    this.#listeners.add(listener);
    return { [Symbol.dispose]: () => this.#listeners.delete(listener) };
  }

  /** Something the status shows changed. */
  changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** Requests waiting (and what for) or executing, and restarted hosts coming back or not back. */
export function tasksOf(w: Working): { requests: unknown[]; restarts: unknown[] } {
  return { requests: w.dispatcher.inFlight(), restarts: w.restarts.lives() };
}

/** Rows pending in the inbox: read at most once a second (a shared store answers over the network). */
export class PendingCount {
  readonly #store: Store;
  readonly #clock: Clock;
  #pending = 0;
  #pendingAt = -Infinity;

  /** Counts the rows pending in `store`. */
  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** The last count read; reads again if it is a second old. */
  read(): number {
    const now = this.#clock.now();
    if (this.#store.isOpen && now - this.#pendingAt >= 1_000) {
      this.#pendingAt = now;
      const n = this.#store.pendingCount();
      if (typeof n === "number") this.#pending = n;
      else n.then((v) => this.#pending = v, () => {});
    }
    return this.#pending;
  }
}

/** Whether the controller can take work: broker connected and delivering, kill switch known, store writable. */
export function readinessOf(
  w: Working,
  o: { killSwitchKnown: boolean; shuttingDown: boolean },
): { ok: boolean; reasons: string[] } {
  const { conn, store } = w;
  const reasons: string[] = [];
  if (!conn.connected) {
    const why = conn.lastError;
    reasons.push(
      `MQTT broker ${redactUrl(w.live.config.mqtt.url)} not connected${why ? `: ${why}` : ""}`,
    );
  } else if (!conn.subscribed) reasons.push("MQTT subscriptions not granted yet");
  for (const [filter, why] of conn.refusedFilters()) {
    reasons.push(`MQTT subscription to ${filter} ${why}`);
  }
  for (const why of w.undelivered.values()) reasons.push(why);
  if (!o.killSwitchKnown) {
    reasons.push(`kill switch state not known yet (nothing delivered on ${w.topics.control})`);
  }
  if (!store.isOpen) reasons.push("store closed");
  else if (store.problem !== undefined) reasons.push(store.problem);
  if (o.shuttingDown) reasons.push("shutting down");
  return { ok: reasons.length === 0, reasons };
}
