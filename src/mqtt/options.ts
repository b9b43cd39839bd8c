/**
 * What a connection is configured with — the config's `mqtt` settings, the
 * session and callbacks of {@linkcode MqttConnection.open}, a route's
 * options — and the MQTT.js options that follow from them, with MQTT.js's
 * own reconnects and resubscribes off (the connection does both).
 * @module
 */
import type { IClientOptions } from "mqtt";
import type { MessageHandler } from "./delivery.ts";

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

/** MQTT.js's options for `settings`, reading the TLS files it names. */
export function clientOptions(
  settings: MqttSettings,
  options: MqttConnectionOptions,
): IClientOptions {
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
    // No table of 65,536 pre-made 2-byte buffers for packet ids (8 MiB of heap
    // held for the life of the process); each id is written as it comes.
    writeCache: false,
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
  return opts;
}
