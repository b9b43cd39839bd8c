/**
 * The MQTT connection: a persistent session (clean start off, session expiry),
 * reconnects with full-jitter backoff, resubscribes when the broker lost the
 * session, and routes each incoming message synchronously to one handler
 * before MQTT.js sends its PUBACK (durability comes from the handler's write).
 * @module
 */
import { setImmediate } from "node:timers";
import "./_quiet_debug.ts";
import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { errorMessage, log } from "../log.ts";
import { AckBatcher } from "./ack_batcher.ts";
import { connectError } from "./connect_error.ts";
import { type MessageHandler, routeMessages } from "./delivery.ts";
import { HeldPublishes } from "./held.ts";
import {
  clientOptions,
  type MqttConnectionOptions,
  type MqttSettings,
  type RouteOptions,
} from "./options.ts";
import { Reconnector } from "./reconnect.ts";
import { Subscriptions } from "./subscriptions.ts";
import { redactUrl } from "../url.ts";

/** A managed MQTT.js client. Dispose to disconnect cleanly. */
export class MqttConnection implements AsyncDisposable {
  readonly client: MqttClient;
  readonly #settings: MqttSettings;
  readonly #subs: Subscriptions;
  readonly #reconnect: Reconnector;
  readonly #held = new HeldPublishes();
  #ending = false;
  #connected = false;
  #options: MqttConnectionOptions;
  #batcher: AckBatcher | undefined;
  #corked = false;
  /** Why the last connect failed or the connection dropped (cleared on connect). */
  #lastError: string | undefined;

  private constructor(client: MqttClient, settings: MqttSettings, options: MqttConnectionOptions) {
    this.client = client;
    this.#settings = settings;
    this.#options = options;
    this.#subs = new Subscriptions(client, options);
    this.#reconnect = new Reconnector(client, settings);
    const logger = log("mqtt");
    const batcher = options.commitBatch ? new AckBatcher(client, options.commitBatch) : undefined;
    this.#batcher = batcher;
    routeMessages(client, { routes: this.#subs, batcher });
    client.on("connect", (connack) => {
      // Small packets (PUBACKs, events) must not wait for Nagle's algorithm.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      this.#reconnect.connected();
      this.#lastError = undefined;
      this.#setConnected(true);
      const sessionPresent = connack.sessionPresent;
      logger.info("Connected to {url} (session present: {sessionPresent})", {
        url: redactUrl(settings.url),
        sessionPresent,
      });
      this.#subs.connected();
      options.onConnect?.(sessionPresent);
      // MQTT.js emits "connect" once what it stored was sent again: new packet ids are safe now.
      this.#held.release();
    });
    client.on("close", () => {
      const wasConnected = this.#connected;
      this.#subs.lost();
      this.#setConnected(false);
      if (!this.#ending) this.#reconnect.schedule({ wasConnected, why: this.#lastError });
    });
    client.on("error", (err) => {
      // A refused CONNACK (bad password, not authorized), a TLS failure (unknown
      // CA, expired certificate, wrong host name) or a refused TCP connection:
      // named in the reconnect line and in /readyz until the next connect.
      this.#lastError = connectError(err);
      if (this.#connected) logger.warn("MQTT error: {error}", { error: this.#lastError });
    });
  }

  /** Connects (in the background; reconnecting until disposed). */
  static async open(
    settings: MqttSettings,
    options: MqttConnectionOptions = {},
  ): Promise<MqttConnection> {
    const opts = clientOptions(settings, options);
    await Promise.resolve();
    return new MqttConnection(mqtt.connect(settings.url, opts), settings, options);
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Routes messages matching `filter` to `handler`, and subscribes to it (now
   * and after every lost session). A message goes to the first route that
   * matches it, a route without wildcards before any with wildcards.
   */
  route(filter: string, qos: 0 | 1, handler: MessageHandler, options: RouteOptions = {}): void {
    const rh = options.retainedEachTime === false ? 1 : 0;
    this.#subs.add({ filter, qos, handler, rh }, this.#connected);
  }

  /**
   * Unsubscribes `filter` (and no longer subscribes it after a reconnect). Its
   * handler stays: a message already on its way is still handled, not dropped.
   */
  async unsubscribe(filter: string): Promise<void> {
    await this.#subs.remove(filter, this.#connected);
  }

  /**
   * Publishes and resolves once the broker acknowledged (QoS 1) or the packet
   * was written (QoS 0). `expirySec` sets the MQTT 5 message expiry, so a
   * message nobody took in time is dropped by the broker (ignored on 3.1.1).
   */
  async publish(
    topic: string,
    payload: string,
    options: { qos?: 0 | 1; retain?: boolean; expirySec?: number } = {},
  ): Promise<void> {
    if (!this.#connected && !this.#ending) await this.#held.wait();
    await this.client.publishAsync(topic, payload, {
      qos: options.qos ?? 1,
      retain: options.retain ?? false,
      properties: options.expirySec !== undefined && this.#settings.protocolVersion === 5
        ? { messageExpiryInterval: Math.max(1, Math.ceil(options.expirySec)) }
        : undefined,
    });
  }

  /**
   * Publishes without waiting; failures are logged. For events, where nothing
   * waits on the broker. What is published in one turn of the event loop
   * leaves in one write (the socket is corked until the next turn).
   */
  publishLater(
    topic: string,
    payload: string,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): void {
    if (!this.#connected && !this.#ending) {
      this.#held.later(() => this.publishLater(topic, payload, options));
      return;
    }
    this.#corkForTurn();
    this.client.publish(
      topic,
      payload,
      { qos: options.qos ?? 1, retain: options.retain ?? false },
      (err) => {
        if (err) {
          log("mqtt").warn("Cannot publish to {topic}: {error}", {
            topic,
            error: errorMessage(err),
          });
        }
      },
    );
  }

  #corkForTurn(): void {
    if (this.#corked) return;
    const stream = this.client.stream as
      | { cork?: () => void; uncork?: () => void; destroyed?: boolean }
      | undefined;
    if (!stream?.cork || stream.destroyed) return;
    stream.cork();
    this.#corked = true;
    setImmediate(() => {
      this.#corked = false;
      stream.uncork?.();
    });
  }

  /** Resolves once connected, or rejects with the signal's reason. */
  async waitConnected(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#connected) return;
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        this.client.off("connect", onConnect);
        reject(signal!.reason);
      };
      this.client.once("connect", onConnect);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #setConnected(v: boolean): void {
    if (this.#connected === v) return;
    this.#connected = v;
    this.#options.onConnectedChange?.(v);
  }

  /** Why the broker cannot be reached now (the last connect error), for `/readyz`; undefined when connected or not known. */
  get lastError(): string | undefined {
    return this.#connected ? undefined : this.#lastError;
  }

  /** Filters the broker refused to subscribe, each with why (for `/readyz`). */
  refusedFilters(): ReadonlyMap<string, string> {
    return this.#subs.refused();
  }

  /** The filters this connection subscribes (its active routes). */
  filters(): string[] {
    return this.#subs.filters();
  }

  /**
   * True once the broker granted this connection's subscriptions (or kept
   * them in its session): from then on, messages published are delivered.
   */
  get subscribed(): boolean {
    return this.#subs.subscribed;
  }

  /** Resolves once {@linkcode subscribed}, or rejects with the signal's reason. */
  waitSubscribed(signal?: AbortSignal): Promise<void> {
    return this.#subs.wait(signal);
  }

  /**
   * Drops the connection at once, without a DISCONNECT — so the broker
   * publishes the last will, as when the host dies — and never reconnects.
   * For simulated hosts (`mandrill dev`, tests).
   */
  drop(): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#reconnect.stop();
    this.#subs.lost();
    this.#setConnected(false);
    this.client.end(true);
    // Gone without a goodbye: nothing held goes out; an awaited publish fails.
    this.#held.release({ later: false });
  }

  /** Disconnects cleanly (waits for in-flight publishes, up to `timeoutMs`), then forcibly. */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.#ending) return;
    await this.#batcher?.flush();
    this.#ending = true;
    // What was held goes to MQTT.js now (and fails there, as any publish while ending).
    this.#held.release();
    this.#reconnect.stop();
    const graceful = this.client.endAsync(false);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.client.end(true, {}, () => resolve());
      }, timeoutMs);
    });
    try {
      await Promise.race([graceful, forced]);
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
