/**
 * A connection's routes and the broker's subscriptions for them: which
 * handler a message goes to, what is subscribed on every connect (and what an
 * earlier config subscribed is removed), which filters the broker refused,
 * and when the connection counts as subscribed — its subscriptions granted,
 * so messages published from then on are delivered.
 * @module
 */
import type { MqttClient } from "mqtt";
import { errorMessage, log } from "../log.ts";
import { subackText } from "./connect_error.ts";
import type { MessageHandler } from "./delivery.ts";
import type { MqttConnectionOptions } from "./options.ts";
import { compileFilter, plainTopic } from "./match.ts";

/** Where messages matching a filter go, and how it is subscribed. */
export interface Route {
  filter: string;
  matches: (topic: string) => boolean;
  qos: 0 | 1;
  handler: MessageHandler;
  /** Subscribed (now and after every reconnect). */
  active: boolean;
  /** MQTT 5 retain handling: 1 sends retained messages only for a new subscription. */
  rh: 0 | 1;
}

/** The routes and subscriptions of one client; see the module doc. */
export class Subscriptions {
  readonly #client: MqttClient;
  readonly #routes: Route[] = [];
  /**
   * `#routes` in lookup order: those without wildcards first. (Not a Map by
   * topic: hashing every incoming topic string kept 10 MiB more alive with
   * 100,000 agents heartbeating.)
   */
  #lookup: Route[] = [];
  /** Where messages no route matches go (see `MqttConnectionOptions.onUnrouted`). */
  readonly #unrouted: Route | undefined;
  /** Filters of an earlier config, removed on every connect unless routed now. */
  readonly #stale: readonly string[];
  /** Counts connects, so a late SUBACK of an earlier connection is not taken for this one's. */
  #connection = 0;
  #live = false;
  #subscribed = false;
  readonly #waiters = new Set<() => void>();
  /** Filters the broker refused, with why. */
  readonly #refused = new Map<string, string>();

  /** Routes nothing yet. */
  constructor(
    client: MqttClient,
    options: Pick<MqttConnectionOptions, "unsubscribe" | "onUnrouted">,
  ) {
    this.#client = client;
    this.#stale = options.unsubscribe ?? [];
    this.#unrouted = options.onUnrouted
      ? {
        filter: "#",
        matches: () => true,
        qos: 1,
        handler: options.onUnrouted,
        active: false,
        rh: 0,
      }
      : undefined;
  }

  /** The route of a message on `topic`: the first that matches, else the unrouted handler's. */
  find(topic: string): Route | undefined {
    return this.#lookup.find((r) => r.matches(topic)) ?? this.#unrouted;
  }

  /** Adds a route (active), subscribing it at once when `connected`. */
  add(route: Pick<Route, "filter" | "qos" | "handler" | "rh">, connected: boolean): void {
    const { filter, qos, rh } = route;
    this.#routes.push({ ...route, matches: compileFilter(filter), active: true });
    const isPlain = (r: Route) => plainTopic(r.filter) !== undefined;
    this.#lookup = [...this.#routes.filter(isPlain), ...this.#routes.filter((r) => !isPlain(r))];
    if (connected) this.#subscribe(filter, qos, rh);
  }

  /** Stops subscribing `filter` (unsubscribed now when `connected`); its handler stays. */
  async remove(filter: string, connected: boolean): Promise<void> {
    const route = this.#routes.find((r) => r.filter === filter);
    if (route) route.active = false;
    if (connected) await this.#client.unsubscribeAsync(filter).catch(() => {});
  }

  /**
   * A connect. Even when the broker kept the session, its subscriptions may
   * be those of an earlier config (another topic prefix or shared group):
   * make them exactly the ones routed now — subscribe every active route,
   * and remove the filters an earlier config had.
   */
  connected(): void {
    this.#live = true;
    this.#connection++;
    const logger = log("mqtt");
    for (const filter of this.#stale) {
      if (this.#routes.some((r) => r.active && r.filter === filter)) continue;
      this.#client.unsubscribe(filter, (err) => {
        if (err) {
          logger.warn("Cannot remove the subscription {filter}: {error}", {
            filter,
            error: errorMessage(err),
          });
        } else logger.info("Removed the subscription {filter} of an earlier config", { filter });
      });
    }
    this.#subscribeAll();
  }

  /** The connection is gone: not subscribed until the next connect's are granted. */
  lost(): void {
    this.#live = false;
    this.#subscribed = false;
  }

  /** True once the broker granted this connection's subscriptions. */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Resolves once {@linkcode subscribed}, or rejects with the signal's reason. */
  async wait(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#subscribed) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(done);
        reject(signal!.reason);
      };
      const done = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Filters the broker refused to subscribe, each with why. */
  refused(): ReadonlyMap<string, string> {
    return this.#refused;
  }

  /** The filters subscribed (the active routes'). */
  filters(): string[] {
    return this.#routes.filter((r) => r.active).map((r) => r.filter);
  }

  /** Subscribes; `done` learns whether the broker granted it. */
  #subscribe(filter: string, qos: 0 | 1, rh: 0 | 1, done?: (ok: boolean) => void): void {
    this.#client.subscribe(filter, { qos, rh }, (err, granted) => {
      // A SUBACK code of 0x80 or more is a refusal (MQTT 5: 0x87 is "not authorized").
      const code = granted?.find((g) => g.qos >= 0x80)?.qos;
      if (err || code !== undefined) {
        this.#refused.set(filter, err ? errorMessage(err) : subackText(code!));
        log("mqtt").error("Cannot subscribe to {filter}: {error}", {
          filter,
          error: this.#refused.get(filter),
        });
      } else this.#refused.delete(filter);
      done?.(!err && code === undefined);
    });
  }

  /** Subscribes every active route; once all are granted, the connection counts as subscribed. */
  #subscribeAll(): void {
    const connection = this.#connection;
    const active = this.#routes.filter((r) => r.active);
    let left = active.length;
    let failed = false;
    if (left === 0) return this.#markSubscribed(connection);
    for (const r of active) {
      this.#subscribe(r.filter, r.qos, r.rh, (ok) => {
        failed ||= !ok;
        if (--left === 0 && !failed) this.#markSubscribed(connection);
      });
    }
  }

  #markSubscribed(connection: number, how?: string): void {
    if (connection !== this.#connection || !this.#live) return;
    this.#subscribed = true;
    log("mqtt").info(`Subscribed to {filters}${how ? ` (${how})` : ""}`, {
      filters: this.filters().join(", "),
    });
    for (const resolve of this.#waiters) resolve();
    this.#waiters.clear();
  }
}
