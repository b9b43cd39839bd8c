/**
 * Group commit for intake. MQTT.js hands messages over one at a time and sends
 * each PUBACK as soon as the handler returns. The batcher holds those PUBACKs
 * (letting MQTT.js go on to the next packet), and once the packets already
 * read are handled it commits the batch of inbox writes, then releases the
 * held PUBACKs in arrival order. The socket is corked for the batch, so the
 * PUBACKs and whatever else was published meanwhile (the "received" events)
 * leave in one write, after the commit. A PUBACK thus
 * still never leaves before its request is durable, and order is kept; a
 * failed commit withholds them all and drops the connection, so the broker
 * redelivers.
 * @module
 */
import { setImmediate } from "node:timers";
import type { MqttClient } from "mqtt";
import { errorMessage, log } from "../log.ts";

type SendPacket = (packet: { cmd: string }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

/** Holds PUBACKs until `commit` has run. */
export class AckBatcher {
  readonly #client: MqttClient;
  readonly #commit: () => void | Promise<void>;
  readonly #send: SendPacket;
  #held: { cmd: string }[] = [];
  #open = false;
  /** The batch being committed: the next one's PUBACKs wait for it (order is kept). */
  #flushing: Promise<void> = Promise.resolve();

  /** Installs itself on `client` (wrapping its packet sender). */
  constructor(client: MqttClient, commit: () => void | Promise<void>) {
    this.#client = client;
    this.#commit = commit;
    // MQTT.js 5 (pinned) sends every packet through this private method.
    const internal = client as unknown as { _sendPacket: SendPacket };
    this.#send = internal._sendPacket.bind(client);
    internal._sendPacket = (packet, cb, ...rest) => {
      if (this.#open && packet.cmd === "puback") {
        this.#held.push(packet);
        cb?.(); // lets MQTT.js handle the next packet now
        return;
      }
      this.#send(packet, cb, ...rest);
    };
  }

  /** Called before a message is handled: its PUBACK will wait for the next flush. */
  hold(): void {
    if (this.#open) return;
    this.#open = true;
    this.#stream()?.cork?.();
    // After the packets already parsed from the socket have been handled.
    setImmediate(() => this.flush());
  }

  #stream(): { cork?: () => void; uncork?: () => void } | undefined {
    return this.#client.stream as { cork?: () => void; uncork?: () => void } | undefined;
  }

  /**
   * Commits, then sends the held PUBACKs in order. A commit may be
   * asynchronous (PostgreSQL): MQTT.js goes on reading meanwhile, and the
   * next batch's PUBACKs wait for this one's. A failed commit sends none of
   * its PUBACKs and drops the connection, so the broker sends them again.
   */
  flush(): Promise<void> {
    if (!this.#open) return this.#flushing;
    this.#open = false;
    const acks = this.#held;
    this.#held = [];
    let committed: void | Promise<void>;
    try {
      committed = this.#commit();
    } catch (err) {
      committed = Promise.reject(err);
    }
    const before = this.#flushing;
    const done = Promise.all([before, committed]).then(() => {
      try {
        for (const packet of acks) this.#send(packet);
      } finally {
        this.#stream()?.uncork?.();
      }
    }, (err) => {
      this.#stream()?.uncork?.();
      log("mqtt").error(
        "Cannot commit {n} messages; not acknowledged, reconnecting for redelivery: {error}",
        { n: acks.length, error: errorMessage(err) },
      );
      this.#client.stream?.destroy();
    });
    this.#flushing = done;
    return done;
  }
}
