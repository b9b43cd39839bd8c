/**
 * How an incoming message reaches its handler, and how the handler's answer
 * becomes a PUBACK or not: each packet goes to the first route that matches
 * it, synchronously, before MQTT.js acknowledges it (durability comes from
 * the handler's write); a handler that throws withholds the PUBACK, so the
 * broker sends the message again.
 * @module
 */
import type { IPublishPacket, MqttClient } from "mqtt";
import { errorMessage, log } from "../log.ts";
import type { AckBatcher } from "./ack_batcher.ts";
import type { Subscriptions } from "./subscriptions.ts";

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

/** Options of {@linkcode routeMessages}. */
export interface RouteMessagesOptions {
  /** Where each packet goes. Required. */
  routes: Pick<Subscriptions, "find">;
  /** Group commit: holds the PUBACKs of the packets at hand. Default: none. */
  batcher?: AckBatcher;
}

/** Makes `client` hand every incoming packet to its route; see the module doc. */
export function routeMessages(client: MqttClient, options: RouteMessagesOptions): void {
  const logger = log("mqtt");
  const batcher = options.batcher;
  // Messages handlers would not take now (NotNowError): the first is logged.
  let notNow = 0;
  client.handleMessage = (packet, callback) => {
    const route = options.routes.find(packet.topic);
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
        if (notNow++ === 0) {
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
}
