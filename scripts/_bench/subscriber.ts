// deno-lint-ignore-file no-console
/**
 * The ceiling: a bare MQTT.js subscriber (QoS 1, MQTT 5, as mandrill
 * subscribes) that only counts messages, run as its own process. Prints
 * "READY" once subscribed, then one JSON line when `count` messages arrived.
 * With `events` > 0 and `eventsTopic`, it also parses each message and
 * publishes that many QoS 1 events for it, as the contract has mandrill do
 * ("received", then how it ended): the MQTT traffic mandrill cannot avoid.
 * It then counts as done when the broker acknowledged the last event.
 *
 * Usage: `deno run -A subscriber.ts '{"url","topic","count","events"?,"eventsTopic"?}'`
 * @module
 */
import "../../src/mqtt/_quiet_debug.ts";
import mqtt from "mqtt";
import { epochMs } from "./proc.ts";

/** What the subscriber reports. */
export interface SubscriberResult {
  received: number;
  firstAt: number;
  lastAt: number;
}

if (import.meta.main) {
  const args = JSON.parse(Deno.args[0] ?? "{}") as {
    url: string;
    topic: string;
    count: number;
    events?: number;
    eventsTopic?: string;
  };
  const events = args.events ?? 0;
  const phases = ["received", "skipped"];
  const EVENTS_WINDOW = 30_000;
  const client = await mqtt.connectAsync(args.url, {
    clientId: `bench-sub-${crypto.randomUUID().slice(0, 8)}`,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
  });
  const r: SubscriberResult = { received: 0, firstAt: 0, lastAt: 0 };
  const done = Promise.withResolvers<void>();
  const totalEvents = args.count * events;
  let acked = 0;
  let inFlight = 0;
  // Events beyond EVENTS_WINDOW unacknowledged wait here (MQTT.js would reuse
  // message ids past 65,535 in flight); the pump is never held, or the
  // broker's PUBACKs would not be read either.
  const waiting: string[] = [];
  let head = 0;
  const send = (payload: string) => {
    inFlight++;
    client.publish(args.eventsTopic!, payload, { qos: 1 }, onEventAck);
  };
  const onEventAck = () => {
    inFlight--;
    if (++acked === totalEvents) {
      r.lastAt = epochMs();
      done.resolve();
    }
    if (head < waiting.length) send(waiting[head++]!);
  };
  client.on("message", (_topic, payload) => {
    if (r.received++ === 0) r.firstAt = epochMs();
    if (events > 0 && args.eventsTopic) {
      const { id, host } = JSON.parse(new TextDecoder().decode(payload));
      for (let i = 0; i < events; i++) {
        const ev = JSON.stringify({ id, host, phase: phases[i % phases.length], ts: Date.now() });
        if (inFlight < EVENTS_WINDOW) send(ev);
        else waiting.push(ev);
      }
    } else if (r.received === args.count) {
      r.lastAt = epochMs();
      done.resolve();
    }
  });
  await client.subscribeAsync(args.topic, { qos: 1 });
  console.log("READY");
  await done.promise;
  // Let the last PUBACKs go out before disconnecting.
  await client.endAsync(false);
  console.log(JSON.stringify(r));
  Deno.exit(0);
}
