/**
 * The production {@linkcode EventSink}: events to `{p}/events`, dead letters to
 * `{p}/deadletter`, QoS 1, without blocking the pipeline.
 * @module
 */
import type { Topics } from "../contract/topics.ts";
import type { MqttConnection } from "../mqtt/mod.ts";
import type { EventSink } from "./events.ts";

/** Publishes events and dead letters on the connection. */
export function mqttEventSink(conn: MqttConnection, t: Topics): EventSink {
  return {
    event: (ev) => conn.publishLater(t.events, JSON.stringify(ev)),
    deadLetter: (dl) => conn.publishLater(t.deadletter, JSON.stringify(dl)),
  };
}
