/**
 * An in-memory stand-in for `MqttConnection`, for unit tests of the agent,
 * the agent executor and the fleet routes: records routes and publications,
 * delivers messages synchronously to the matching route, and plays connects.
 * @module
 */
import type { IPublishPacket } from "mqtt";
import type { AgentConnector, AgentLink } from "../../src/agent/agent.ts";
import {
  type MessageHandler,
  type MqttConnectionOptions,
  type MqttSettings,
  topicMatches,
} from "../../src/mqtt/mod.ts";

/** One recorded publication. */
export interface FakePublication {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

/** A fake connection. Messages go nowhere; tests read `published`. */
export class FakeMqtt implements AgentLink, AsyncDisposable {
  connected = false;
  closed = false;
  /** Settings and options it was opened with, through {@linkcode FakeMqtt.connector}. */
  settings: MqttSettings | undefined;
  options: MqttConnectionOptions | undefined;
  readonly routes: { filter: string; qos: 0 | 1; handler: MessageHandler }[] = [];
  readonly published: FakePublication[] = [];
  /** When set, `publish` rejects with it. */
  publishError: Error | undefined;
  /** When set, `publish` never settles (a broker that does not acknowledge). */
  holdPublishes = false;

  /** A connector that hands out this fake (connected at once unless `connect: false`). */
  connector(connect = true): AgentConnector {
    return (settings, options) => {
      this.settings = settings;
      this.options = options;
      if (connect) this.connected = true;
      return Promise.resolve(this);
    };
  }

  /** Plays a (re)connect: sets `connected` and calls `onConnect`. */
  connect(sessionPresent = false): void {
    this.connected = true;
    this.options?.onConnect?.(sessionPresent);
  }

  /** Plays a lost connection. */
  disconnect(): void {
    this.connected = false;
  }

  /** Records the route; {@linkcode FakeMqtt.deliver} uses it. */
  route(filter: string, qos: 0 | 1, handler: MessageHandler): void {
    this.routes.push({ filter, qos, handler });
  }

  /** Records the publication; settles per `publishError` / `holdPublishes`. */
  publish(
    topic: string,
    payload: string,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    if (this.publishError) return Promise.reject(this.publishError);
    this.published.push({
      topic,
      payload,
      qos: options.qos ?? 1,
      retain: options.retain ?? false,
    });
    return this.holdPublishes ? new Promise<void>(() => {}) : Promise.resolve();
  }

  /** Records the publication. */
  publishLater(
    topic: string,
    payload: string,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): void {
    this.published.push({
      topic,
      payload,
      qos: options.qos ?? 1,
      retain: options.retain ?? false,
    });
  }

  /** Marks the fake closed and disconnected. */
  close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Delivers a message to the first matching route, synchronously, like
   * MQTT.js before its PUBACK. Throws if no route matches or the handler throws.
   */
  deliver(topic: string, payload: string | Uint8Array | object): void | Promise<void> {
    const route = this.routes.find((r) => topicMatches(r.filter, topic));
    if (!route) throw new Error(`no route for ${topic}`);
    const bytes = payload instanceof Uint8Array
      ? payload
      : new TextEncoder().encode(typeof payload === "string" ? payload : JSON.stringify(payload));
    return route.handler(topic, bytes, { topic, qos: route.qos } as IPublishPacket);
  }

  /** Parsed JSON payloads published on `topic`, in order. */
  on(topic: string): unknown[] {
    return this.published.filter((p) => p.topic === topic).map((p) => JSON.parse(p.payload));
  }
}
