/**
 * The MQTT connection: a persistent session (clean start off, session expiry),
 * reconnects with full-jitter backoff, resubscribes when the broker lost the
 * session, and routes each incoming message synchronously to one handler
 * before MQTT.js sends its PUBACK (durability comes from the handler's write).
 * @module
 */
import { setImmediate } from "node:timers";
import mqtt from "mqtt";
import type { IClientOptions, IPublishPacket, MqttClient } from "mqtt";
import { backoffDelay } from "../async/mod.ts";
import { errorMessage, log } from "../log.ts";
import { compileFilter, plainTopic } from "./match.ts";
import { AckBatcher } from "./ack_batcher.ts";
import { redactUrl } from "../url.ts";

export { redactUrl };

/**
 * Thrown by a handler that will not take a message now, as expected (e.g.
 * mandrill is shutting down): the message is not acknowledged — the broker
 * sends it again — and it is counted, not logged as an error.
 */
export class NotNowError extends Error {
  override name = "NotNowError";
}

/**
 * Handles one incoming message. Returning normally (or the returned promise
 * resolving) lets the PUBACK go; throwing (or rejecting) withholds it so the
 * broker redelivers after a reconnect. Return a promise only where work must
 * finish first (verifying a signature): the next message waits for it.
 */
export type MessageHandler = (
  topic: string,
  payload: Uint8Array,
  packet: IPublishPacket,
) => void | Promise<void>;

/** What the connection needs from the config's `mqtt` section. */
export interface MqttSettings {
  url: string;
  clientId: string;
  protocolVersion: 4 | 5;
  username?: string;
  password?: string;
  sessionExpirySec: number;
  keepaliveSec: number;
  connectTimeoutSec: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean };
}

/** Options of {@linkcode MqttConnection.open}. */
export interface MqttConnectionOptions {
  /** Persistent session (clean start off). Default: true. */
  persistent?: boolean;
  /** Last will, e.g. an agent's retained offline status. */
  will?: { topic: string; payload: string; qos: 0 | 1; retain: boolean };
  /** Called on every (re)connect after subscriptions are restored. */
  onConnect?: (sessionPresent: boolean) => void;
  /**
   * Group commit: hold PUBACKs and call this once the packets at hand are
   * handled, then send them. Default: none, each PUBACK goes when its handler returns.
   */
  commitBatch?: () => void | Promise<void>;
  /** Called whenever the connected state changes. */
  onConnectedChange?: (connected: boolean) => void;
  /**
   * Filters an earlier config subscribed (a kept session may still hold
   * them): unsubscribed on every connect, unless routed now. Default: none.
   */
  unsubscribe?: readonly string[];
  /**
   * Handles a message no route matches (a kept session's stale subscription),
   * like a route: e.g. dead-letter it before it is acknowledged. Default:
   * acknowledged and dropped.
   */
  onUnrouted?: MessageHandler;
}

interface Route {
  filter: string;
  matches: (topic: string) => boolean;
  qos: 0 | 1;
  handler: MessageHandler;
  /** Subscribed (now and after every reconnect). */
  active: boolean;
  /** MQTT 5 retain handling: 1 sends retained messages only for a new subscription. */
  rh: 0 | 1;
}

/** Options of {@linkcode MqttConnection.route}. */
export interface RouteOptions {
  /**
   * Retained messages at every (re)subscribe (true), or only when the
   * subscription is new — not again on a reconnect that kept the session
   * (false; MQTT 5 retain handling 1: 100,000 agents' retained statuses are
   * not sent again on every reconnect). Default: true.
   */
  retainedEachTime?: boolean;
}

/** A managed MQTT.js client. Dispose to disconnect cleanly. */
export class MqttConnection implements AsyncDisposable {
  readonly client: MqttClient;
  readonly #routes: Route[] = [];
  /**
   * `#routes` in lookup order: those without wildcards first. (Not a Map by
   * topic: hashing every incoming topic string kept 10 MiB more alive with
   * 100,000 agents heartbeating.)
   */
  #lookup: Route[] = [];
  readonly #settings: MqttSettings;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #ending = false;
  #connected = false;
  #options: MqttConnectionOptions;
  #batcher: AckBatcher | undefined;
  #corked = false;
  /** Counts connects, so a late SUBACK of an earlier connection is not taken for this one's. */
  #connection = 0;
  #subscribed = false;
  readonly #subscribedWaiters = new Set<() => void>();
  /** Messages a handler would not take now ({@linkcode NotNowError}). */
  #notNow = 0;
  /** Filters the broker refused, with why. */
  readonly #refused = new Map<string, string>();
  /**
   * Publishes asked for while not connected, sent once the connection is up
   * again. Not handed to MQTT.js meanwhile: after a reconnect it clears its
   * packet ids and resends what it stored, and a publish made before that is
   * done can take the id of a stored one and replace it (an event lost).
   */
  #held: { later: boolean; send: () => void }[] = [];
  /** Why the last connect failed or the connection dropped (cleared on connect). */
  #lastError: string | undefined;
  /** Where messages no route matches go (see `MqttConnectionOptions.onUnrouted`). */
  readonly #unrouted: Route | undefined;

  private constructor(client: MqttClient, settings: MqttSettings, options: MqttConnectionOptions) {
    this.client = client;
    this.#settings = settings;
    this.#options = options;
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
    const logger = log("mqtt");
    const batcher = options.commitBatch ? new AckBatcher(client, options.commitBatch) : undefined;
    this.#batcher = batcher;
    client.handleMessage = (packet, callback) => {
      const route = this.#lookup.find((r) => r.matches(packet.topic)) ?? this.#unrouted;
      if (!route) return callback();
      batcher?.hold();
      const payload = typeof packet.payload === "string"
        ? new TextEncoder().encode(packet.payload)
        : new Uint8Array(
          packet.payload.buffer,
          packet.payload.byteOffset,
          packet.payload.byteLength,
        );
      const failed = (err: unknown) => {
        if (err instanceof NotNowError) {
          // One line per reason, not one per message.
          if (this.#notNow++ === 0) {
            logger.info("Not taking messages now ({reason}): the broker will send them again", {
              reason: err.message,
            });
          }
        } else {
          logger.error("Cannot handle message on {topic}, not acknowledged: {error}", {
            topic: packet.topic,
            error: errorMessage(err),
          });
        }
        callback(err instanceof Error ? err : new Error(String(err)));
      };
      let handled: void | Promise<void>;
      try {
        handled = route.handler(packet.topic, payload, packet);
      } catch (err) {
        return failed(err);
      }
      // An asynchronous handler (verifying a signature): MQTT.js hands over the
      // next packet only once this one is acknowledged, so order is kept.
      if (handled instanceof Promise) handled.then(() => callback(), failed);
      else callback();
    };
    client.on("connect", (connack) => {
      // Small packets (PUBACKs, events) must not wait for Nagle's algorithm.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      this.#attempt = 0;
      this.#lastError = undefined;
      this.#setConnected(true);
      const sessionPresent = connack.sessionPresent;
      logger.info("Connected to {url} (session present: {sessionPresent})", {
        url: redactUrl(settings.url),
        sessionPresent,
      });
      this.#connection++;
      // Even when the broker kept the session: its subscriptions may be those
      // of an earlier config (another topic prefix or shared group). Make them
      // exactly the ones this connection routes: subscribe every route, and
      // remove the filters an earlier config had.
      for (const filter of options.unsubscribe ?? []) {
        if (this.#routes.some((r) => r.active && r.filter === filter)) continue;
        this.client.unsubscribe(filter, (err) => {
          if (err) {
            logger.warn("Cannot remove the subscription {filter}: {error}", {
              filter,
              error: errorMessage(err),
            });
          } else logger.info("Removed the subscription {filter} of an earlier config", { filter });
        });
      }
      this.#subscribeAll();
      options.onConnect?.(sessionPresent);
      // MQTT.js emits "connect" once what it stored was sent again: new packet ids are safe now.
      const held = this.#held;
      this.#held = [];
      for (const h of held) h.send();
    });
    client.on("close", () => {
      const wasConnected = this.#connected;
      this.#subscribed = false;
      this.#setConnected(false);
      if (!this.#ending) this.#scheduleReconnect(wasConnected);
    });
    client.on("error", (err) => {
      // A refused CONNACK (bad password, not authorized), a TLS failure (unknown
      // CA, expired certificate, wrong host name) or a refused TCP connection:
      // named in the reconnect line and in /readyz until the next connect.
      this.#lastError = _connectError(err);
      if (this.#connected) logger.warn("MQTT error: {error}", { error: this.#lastError });
    });
  }

  /** Connects (in the background; reconnecting until disposed). */
  static async open(
    settings: MqttSettings,
    options: MqttConnectionOptions = {},
  ): Promise<MqttConnection> {
    const opts: IClientOptions = {
      clientId: settings.clientId,
      protocolVersion: settings.protocolVersion,
      clean: !(options.persistent ?? true),
      keepalive: settings.keepaliveSec,
      connectTimeout: settings.connectTimeoutSec * 1000,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      // Per-packet costs that show in profiles: the keepalive timer re-armed on
      // every packet sent, and the debug logger called on every packet.
      reschedulePings: false,
      log: () => {},
      username: settings.username,
      password: settings.password,
      properties: settings.protocolVersion === 5 && (options.persistent ?? true)
        ? { sessionExpiryInterval: settings.sessionExpirySec }
        : undefined,
      will: options.will
        ? {
          topic: options.will.topic,
          payload: options.will.payload,
          qos: options.will.qos,
          retain: options.will.retain,
        }
        : undefined,
    };
    if (settings.tls) {
      const read = (p?: string) => (p ? Deno.readTextFileSync(p) : undefined);
      opts.ca = read(settings.tls.caFile);
      opts.cert = read(settings.tls.certFile);
      opts.key = read(settings.tls.keyFile);
      opts.rejectUnauthorized = settings.tls.rejectUnauthorized;
    }
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
    this.#routes.push({ filter, matches: compileFilter(filter), qos, handler, active: true, rh });
    const isPlain = (r: Route) => plainTopic(r.filter) !== undefined;
    this.#lookup = [...this.#routes.filter(isPlain), ...this.#routes.filter((r) => !isPlain(r))];
    if (this.#connected) this.#subscribe(filter, qos, rh);
  }

  /**
   * Unsubscribes `filter` (and no longer subscribes it after a reconnect). Its
   * handler stays: a message already on its way is still handled, not dropped.
   */
  async unsubscribe(filter: string): Promise<void> {
    const route = this.#routes.find((r) => r.filter === filter);
    if (route) route.active = false;
    if (this.#connected) await this.client.unsubscribeAsync(filter).catch(() => {});
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
    if (!this.#connected && !this.#ending) {
      await new Promise<void>((resolve) => this.#held.push({ later: false, send: resolve }));
    }
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
      this.#held.push({ later: true, send: () => this.publishLater(topic, payload, options) });
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

  /** Subscribes; `done` learns whether the broker granted it. */
  #subscribe(filter: string, qos: 0 | 1, rh: 0 | 1, done?: (ok: boolean) => void): void {
    this.client.subscribe(filter, { qos, rh }, (err, granted) => {
      // A SUBACK code of 0x80 or more is a refusal (MQTT 5: 0x87 is "not authorized").
      const code = granted?.find((g) => g.qos >= 0x80)?.qos;
      if (err || code !== undefined) {
        this.#refused.set(filter, err ? errorMessage(err) : _subackText(code!));
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
    if (connection !== this.#connection || !this.#connected) return;
    this.#subscribed = true;
    const filters = this.#routes.filter((r) => r.active).map((r) => r.filter).join(", ");
    log("mqtt").info(`Subscribed to {filters}${how ? ` (${how})` : ""}`, { filters });
    for (const resolve of this.#subscribedWaiters) resolve();
    this.#subscribedWaiters.clear();
  }

  /** Why the broker cannot be reached now (the last connect error), for `/readyz`; undefined when connected or not known. */
  get lastError(): string | undefined {
    return this.#connected ? undefined : this.#lastError;
  }

  /** Filters the broker refused to subscribe, each with why (for `/readyz`). */
  refusedFilters(): ReadonlyMap<string, string> {
    return this.#refused;
  }

  /** The filters this connection subscribes (its active routes). */
  filters(): string[] {
    return this.#routes.filter((r) => r.active).map((r) => r.filter);
  }

  /**
   * True once the broker granted this connection's subscriptions (or kept
   * them in its session): from then on, messages published are delivered.
   */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  /** Resolves once {@linkcode subscribed}, or rejects with the signal's reason. */
  async waitSubscribed(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#subscribed) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#subscribedWaiters.delete(done);
        reject(signal!.reason);
      };
      const done = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      this.#subscribedWaiters.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #scheduleReconnect(wasConnected = false): void {
    if (this.#reconnectTimer !== undefined) return;
    const ms = backoffDelay(++this.#attempt, {
      minDelayMs: this.#settings.reconnectMinMs,
      maxDelayMs: this.#settings.reconnectMaxMs,
    });
    const why = this.#lastError;
    log("mqtt").warn(
      wasConnected || why === undefined
        ? "Disconnected from {url}; reconnecting in {ms} ms"
        : "Cannot connect to {url}: {error}; reconnecting in {ms} ms",
      { url: redactUrl(this.#settings.url), error: why, ms: Math.round(ms) },
    );
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      // With its stores: a bare reconnect() starts MQTT.js with empty ones,
      // and every QoS 1 publish not yet acknowledged (events) would be lost.
      if (!this.#ending) {
        this.client.reconnect({
          incomingStore: this.client.incomingStore,
          outgoingStore: this.client.outgoingStore,
        });
      }
    }, ms);
  }

  /**
   * Drops the connection at once, without a DISCONNECT — so the broker
   * publishes the last will, as when the host dies — and never reconnects.
   * For simulated hosts (`mandrill dev`, tests).
   */
  drop(): void {
    if (this.#ending) return;
    this.#ending = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#subscribed = false;
    this.#setConnected(false);
    this.client.end(true);
    // Gone without a goodbye: nothing held goes out; an awaited publish fails.
    this.#releaseHeld(false);
  }

  /** Ending: what was held goes to MQTT.js now (and fails there, as any publish while ending). */
  #releaseHeld(later = true): void {
    const held = this.#held;
    this.#held = [];
    for (const h of held) if (later || !h.later) h.send();
  }

  /** Disconnects cleanly (waits for in-flight publishes, up to `timeoutMs`), then forcibly. */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.#ending) return;
    await this.#batcher?.flush();
    this.#ending = true;
    this.#releaseHeld();
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
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

function _subackText(code: number): string {
  return code === 0x87
    ? "refused by the broker: not authorized (an ACL?)"
    : `refused by the broker (SUBACK code 0x${code.toString(16)})`;
}

/** Broker refusals and TLS failures, in words an operator can act on. */
const _TLS_HINTS: [RegExp, string][] = [
  [
    /UnknownIssuer|unable to (get|verify)|self[- ]signed/i,
    "the broker's certificate is not signed by the CA in mqtt.tls.caFile",
  ],
  [
    /Expired|CERT_HAS_EXPIRED|certificate has expired/i,
    "a certificate has expired (or is not valid yet)",
  ],
  [
    /NotValidForName|ALTNAME|does not match|not valid for/i,
    "the broker's certificate is not valid for the host name in mqtt.url",
  ],
  [
    /CertificateRequired|certificate required|alert.*certificate|handshake failure/i,
    "the broker wants a client certificate (mqtt.tls.certFile, keyFile) it accepts",
  ],
  [/Bad username or password|Bad User Name or Password/i, "check mqtt.username and mqtt.password"],
  [/Not authori[sz]ed/i, "the broker's ACL or password file does not admit this client"],
];

/** The reason of a failed connect, with a hint where one is known (e.g. TLS, CONNACK refusals). */
function _connectError(err: unknown): string {
  const text = errorMessage(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  const withCode = typeof code === "string" && !text.includes(code) ? `${text} (${code})` : text;
  const hint = _TLS_HINTS.find(([re]) => re.test(withCode))?.[1];
  return hint ? `${withCode}: ${hint}` : withCode;
}
