/**
 * Events published while the connection drops and comes back, again and
 * again, against a real Mosquitto: every one arrives. (MQTT.js clears its
 * packet ids on a reconnect and resends what it stored; a publish made
 * before it is done could take a stored packet's id and replace it.)
 */
import assert from "node:assert/strict";
import { MqttConnection } from "../../src/mqtt/mod.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient } from "../_helpers/mqtt.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test("mqtt: 3,000 QoS 1 events published across 15 dropped connections all arrive", async () => {
  await using broker = await Mosquitto.start();
  await using sub = await connectClient(broker.url, "reconnect-sub");
  const seen = new Set<string>();
  sub.on("message", (_t, p) => seen.add(new TextDecoder().decode(p)));
  await sub.subscribeAsync("t/events", { qos: 1 });
  await using conn = await MqttConnection.open({
    url: broker.url,
    clientId: "reconnect-pub",
    protocolVersion: 5,
    sessionExpirySec: 60,
    keepaliveSec: 30,
    connectTimeoutSec: 5,
    reconnectMinMs: 10,
    reconnectMaxMs: 50,
  });
  await conn.waitConnected();
  const total = 3_000;
  for (let i = 0; i < total; i++) {
    conn.publishLater("t/events", `e-${i}`);
    if (i % 200 === 199) {
      // Drop the socket as a failed commit does (AckBatcher), mid-stream.
      (conn.client.stream as { destroy?: () => void }).destroy?.();
    }
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  await waitFor(() => seen.size === total, {
    what: () => {
      const missing = Array.from({ length: total }, (_, i) => `e-${i}`).filter((e) => !seen.has(e));
      return `all ${total} events (have ${seen.size}; missing ${missing.slice(0, 40).join(" ")})`;
    },
    timeoutMs: 30_000,
  });
  assert.equal(seen.size, total);
});
