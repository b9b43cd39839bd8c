/** `mandrill run`'s HTTP endpoint and debug mode, as a real process. */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { writeTestConfig } from "../_helpers/config.ts";

interface Family {
  name: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

function sample(
  families: Family[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const fam = families.find((f) => f.name === name);
  const m = fam?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return m?.value === undefined ? undefined : Number(m.value);
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

Deno.test("run: /metrics parses as Prometheus text and counts requests; /readyz follows the broker", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const file = await writeTestConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-obs", reconnectMinMs: 100, reconnectMaxMs: 300 },
    http: { listen: "127.0.0.1:0" },
    executors: { local: { type: "command", argv: ["true"] } },
    hosts: { "web-1": { executor: "local" } },
  });
  await using events = await EventCollector.start(broker.url);
  await using proc = MandrillProcess.start(["run", "--config", file]);
  const port = await proc.httpPort();
  await proc.waitForLine(/Subscribed to/);
  const base = `http://127.0.0.1:${port}`;
  await using pub = await connectClient(broker.url);
  await publishAll(pub, "mandrill/restart", [
    JSON.stringify({ id: "m-1", host: "web-1" }),
    JSON.stringify({ id: "m-2", host: "web-1" }),
    JSON.stringify({ id: "m-3", host: "nope-1" }),
    "garbage",
  ]);
  await waitFor(() => events.terminalIds().size >= 3 && events.deadLetters.length >= 1, {
    what: "all outcomes",
  });
  const metrics = await get(`${base}/metrics`);
  assert.equal(metrics.status, 200);
  const families: Family[] = parsePrometheusTextFormat(metrics.body);
  assert.equal(sample(families, "mandrill_requests_total", { result: "succeeded" }), 1);
  assert.equal(sample(families, "mandrill_requests_total", { result: "skipped" }), 2);
  assert.equal(sample(families, "mandrill_skips_total", { reason: "min_interval" }), 1);
  assert.equal(sample(families, "mandrill_skips_total", { reason: "unknown_host" }), 1);
  assert.equal(sample(families, "mandrill_deadletters_total"), 1);
  assert.equal(
    sample(families, "mandrill_restarts_total", { executor: "local", outcome: "ok" }),
    1,
  );
  assert.equal(sample(families, "mandrill_mqtt_connected"), 1);
  assert.equal(sample(families, "mandrill_inbox_pending"), 0);
  assert.ok(families.some((f) => f.name === "mandrill_restart_duration_seconds"));
  assert.equal((await get(`${base}/healthz`)).status, 200);
  assert.equal((await get(`${base}/readyz`)).status, 200);
  assert.deepEqual(JSON.parse((await get(`${base}/debug/tasks`)).body), {
    requests: [],
    restarts: [],
  });

  await broker.stop();
  const down = await waitFor(async () => {
    const r = await get(`${base}/readyz`);
    return r.status === 503 ? r : undefined;
  }, { what: "/readyz to turn 503" });
  assert.match(down.body, /MQTT broker mqtt:\/\/127\.0\.0\.1:\d+ not connected/);
  await broker.start();
  await waitFor(async () => (await get(`${base}/readyz`)).status === 200, {
    what: "/readyz back to 200",
  });
  proc.kill("SIGTERM");
  assert.equal((await proc.exited()).code, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run --debug: a deliberate 300 ms blocking call is reported as an event-loop stall", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const file = await writeTestConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-dbg" },
  });
  await using proc = MandrillProcess.start(["run", "--config", file, "--debug"], {
    env: { MANDRILL_TEST_FAULT: "block" },
  });
  // On a loaded machine other stalls may be reported first (start-up): the
  // deliberate one is the stall of at least 250 ms.
  const stallMs = (l: string) => {
    try {
      return /Event loop blocked for/.test(l) ? Number(JSON.parse(l).ms) : 0;
    } catch {
      return 0;
    }
  };
  const line = await waitFor(() => proc.lines.find((l) => stallMs(l) >= 250), {
    what: () =>
      `a stall of >= 250 ms reported; stalls seen: ${
        proc.lines.map(stallMs).filter((ms) => ms > 0).join(", ") || "none"
      }`,
    timeoutMs: 30_000,
  });
  assert.ok(stallMs(line) < 5_000, `reported ${stallMs(line)} ms for a 300 ms block`);
  proc.kill("SIGTERM");
  assert.equal((await proc.exited()).code, 0);
  await Deno.remove(dir, { recursive: true });
});
