/**
 * Reconnecting after a drop or a failed connect: one attempt at a time, with
 * full-jitter backoff between `reconnectMinMs` and `reconnectMaxMs` that
 * starts over after every connect, and MQTT.js's stores kept across it.
 * @module
 */
import type { MqttClient } from "mqtt";
import { backoffDelay } from "../async/mod.ts";
import { log } from "../log.ts";
import { redactUrl } from "../url.ts";
import type { MqttSettings } from "./options.ts";

/** Schedules the reconnects of one client; see the module doc. */
export class Reconnector {
  readonly #client: MqttClient;
  readonly #settings: MqttSettings;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /** Reconnects `client` to `settings.url`; nothing is scheduled yet. */
  constructor(client: MqttClient, settings: MqttSettings) {
    this.#client = client;
    this.#settings = settings;
  }

  /** Connected: the next reconnect waits the shortest delay again. */
  connected(): void {
    this.#attempt = 0;
  }

  /**
   * Reconnects after the next backoff delay (unless one is scheduled),
   * logging a drop (`wasConnected`) or why the connect failed (`why`).
   */
  schedule(options: { wasConnected: boolean; why: string | undefined }): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const ms = backoffDelay(++this.#attempt, {
      minDelayMs: this.#settings.reconnectMinMs,
      maxDelayMs: this.#settings.reconnectMaxMs,
    });
    const { wasConnected, why } = options;
    log("mqtt").warn(
      wasConnected || why === undefined
        ? "Disconnected from {url}; reconnecting in {ms} ms"
        : "Cannot connect to {url}: {error}; reconnecting in {ms} ms",
      { url: redactUrl(this.#settings.url), error: why, ms: Math.round(ms) },
    );
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // With its stores: a bare reconnect() starts MQTT.js with empty ones,
      // and every QoS 1 publish not yet acknowledged (events) would be lost.
      if (!this.#stopped) {
        this.#client.reconnect({
          incomingStore: this.#client.incomingStore,
          outgoingStore: this.#client.outgoingStore,
        });
      }
    }, ms);
  }

  /** Never reconnects again (a scheduled reconnect is cancelled). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
