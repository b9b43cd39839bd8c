/** MQTT test clients: publish requests, collect events. */
import { Buffer } from "node:buffer";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { RestartEvent } from "../../src/contract/messages.ts";
import { waitFor, type WaitOptions } from "./wait.ts";

/** Connects a plain MQTT.js client (with `options`, e.g. a user name) and waits for the connection. */
export async function connectClient(
  url: string,
  clientId?: string,
  protocolVersion: 4 | 5 = 5,
  options: IClientOptions = {},
): Promise<MqttClient & AsyncDisposable> {
  const client = await mqtt.connectAsync(url, {
    clientId: clientId ?? `test-${crypto.randomUUID().slice(0, 8)}`,
    reconnectPeriod: 200,
    protocolVersion,
    ...options,
  });
  return Object.assign(client, {
    [Symbol.asyncDispose]: async () => {
      await client.endAsync(true);
    },
  });
}

/** Collects every event on `{prefix}/events` and every dead letter. */
export class EventCollector implements AsyncDisposable {
  readonly events: RestartEvent[] = [];
  readonly deadLetters: { topic: string; payload: string; error: string }[] = [];
  readonly #client: MqttClient;

  private constructor(client: MqttClient) {
    this.#client = client;
  }

  /** Subscribes to events and dead letters under `prefix`. */
  static start(url: string, prefix = "mandrill"): Promise<EventCollector> {
    return EventCollector.startWith(url, {}, prefix);
  }

  /** {@linkcode start} with client `options` (a user name and password). */
  static async startWith(
    url: string,
    options: IClientOptions,
    prefix = "mandrill",
  ): Promise<EventCollector> {
    const client = await mqtt.connectAsync(url, {
      ...options,
      clientId: `collector-${crypto.randomUUID().slice(0, 8)}`,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 600 },
      reconnectPeriod: 200,
    });
    const c = new EventCollector(client);
    client.on("message", (topic, payload) => {
      const body = JSON.parse(new TextDecoder().decode(payload));
      if (topic.endsWith("/events")) c.events.push(body);
      else c.deadLetters.push(body);
    });
    await client.subscribeAsync([`${prefix}/events`, `${prefix}/deadletter`], { qos: 1 });
    return c;
  }

  /** Events of one phase. */
  phase(phase: RestartEvent["phase"]): RestartEvent[] {
    return this.events.filter((e) => e.phase === phase);
  }

  /** Ids whose terminal phase has been seen (succeeded, failed, skipped, rejected, interrupted). */
  terminalIds(): Set<string> {
    const terminal = new Set(["succeeded", "failed", "skipped", "rejected", "interrupted"]);
    return new Set(this.events.filter((e) => terminal.has(e.phase)).map((e) => e.id));
  }

  /** Waits until `n` distinct ids reached a terminal phase. */
  async waitTerminal(n: number, options: WaitOptions = {}): Promise<void> {
    await waitFor(() => this.terminalIds().size >= n, {
      what: `${n} requests to finish (have ${this.terminalIds().size})`,
      timeoutMs: 60_000,
      ...options,
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#client.endAsync(true);
  }
}

/** Publishes raw payloads at QoS 1 to `topic`, waiting for every PUBACK. */
export async function publishAll(
  client: MqttClient,
  topic: string,
  payloads: (string | Uint8Array)[],
): Promise<void> {
  const chunk = 500;
  for (let i = 0; i < payloads.length; i += chunk) {
    await Promise.all(
      payloads.slice(i, i + chunk).map((p) =>
        client.publishAsync(topic, typeof p === "string" ? p : Buffer.from(p), { qos: 1 })
      ),
    );
  }
}
