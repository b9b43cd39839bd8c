// deno-lint-ignore-file no-console
/**
 * The ceiling: a bare MQTT.js subscriber (QoS 1, MQTT 5, as mandrill
 * subscribes) that only counts messages, run as its own process. Prints
 * "READY" once subscribed, then one JSON line when `count` messages arrived.
 *
 * Usage: `deno run -A subscriber.ts '{"url","topic","count"}'`
 * @module
 */
import mqtt from "mqtt";
import { epochMs } from "./proc.ts";

/** What the subscriber reports. */
export interface SubscriberResult {
  received: number;
  firstAt: number;
  lastAt: number;
}

if (import.meta.main) {
  const args = JSON.parse(Deno.args[0] ?? "{}") as { url: string; topic: string; count: number };
  const client = await mqtt.connectAsync(args.url, {
    clientId: `bench-sub-${crypto.randomUUID().slice(0, 8)}`,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
  });
  const r: SubscriberResult = { received: 0, firstAt: 0, lastAt: 0 };
  const done = Promise.withResolvers<void>();
  client.on("message", () => {
    if (r.received++ === 0) r.firstAt = epochMs();
    if (r.received === args.count) {
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
