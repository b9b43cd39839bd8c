/**
 * Webhook notifications end to end, over a real Mosquitto: a webhook that
 * hangs never slows the pipeline, and the kill switch and the breaker are
 * notified.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { parseConfig } from "../../src/config/mod.ts";
import { Controller } from "../../src/controller.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { hostsConfig, testConfig, writeTestConfig } from "../_helpers/config.ts";
import { WebhookReceiver } from "../_helpers/webhook_receiver.ts";

const TERMINAL = new Set(["succeeded", "failed", "skipped", "rejected", "interrupted"]);

interface Family {
  name: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

async function scrape(port: number, name: string): Promise<Family["metrics"]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const families: Family[] = parsePrometheusTextFormat(text);
  return families.find((f) => f.name === name)?.metrics ?? [];
}

Deno.test("notify: a 2,000-request burst while the webhook hangs — every request ends once, drops are counted, the URL's secret is never logged", async () => {
  await using broker = await Mosquitto.start();
  await using receiver = WebhookReceiver.start(() => "hang");
  const dir = await Deno.makeTempDir();
  const secret = "T0123/B0456/hangingSecretToken";
  const file = await writeTestConfig(dir, broker.url, {
    http: { listen: "127.0.0.1:0" },
    executors: { local: { type: "command", argv: ["true"] } },
    hosts: hostsConfig(200),
    policy: {
      minIntervalSec: 0,
      maxPerHour: 100000,
      maxUnavailable: 16,
      maxUnavailablePerGroup: 16,
    },
    notify: {
      webhooks: [{
        url: "${HOOK_URL}",
        phases: ["received", "started", "succeeded", "failed", "skipped"],
        format: "slack",
        timeoutSec: 60,
        queueSize: 20,
      }],
    },
  });
  await using events = await EventCollector.start(broker.url);
  await using proc = MandrillProcess.start(["run", "--config", file], {
    env: { HOOK_URL: receiver.url(`/services/${secret}`) },
  });
  const port = await proc.httpPort();
  await proc.waitForLine(/Subscribed to/);
  await using pub = await connectClient(broker.url);
  const payloads = Array.from(
    { length: 2000 },
    (_, i) => JSON.stringify({ id: `n-${i}`, host: `web-${i % 200}` }),
  );
  await publishAll(pub, "mandrill/restart", payloads);
  const terminal = () => events.events.filter((e) => TERMINAL.has(e.phase));
  await waitFor(() => terminal().length >= 2000, {
    what: "2,000 requests to end",
    timeoutMs: 120_000,
  });

  const perId = new Map<string, number>();
  for (const e of terminal()) perId.set(e.id, (perId.get(e.id) ?? 0) + 1);
  assert.equal(perId.size, 2000);
  const twice = [...perId].filter(([, n]) => n !== 1);
  assert.deepEqual(twice, [], "a request ended more than once");
  assert.equal(events.phase("succeeded").length, 2000);
  assert.equal(receiver.posts.length, 1, "more than one POST in flight to one webhook");

  const dropped = await scrape(port, "mandrill_notify_dropped_total");
  assert.equal(dropped.length, 1);
  assert.match(dropped[0]!.labels!.webhook!, /^0:127\.0\.0\.1:\d+$/);
  assert.ok(Number(dropped[0]!.value) > 0, "no drop counted");
  const succeeded = await scrape(port, "mandrill_requests_total");
  assert.equal(succeeded.find((m) => m.labels?.result === "succeeded")?.value, "2000");

  const stopping = performance.now();
  proc.kill("SIGTERM");
  assert.equal((await proc.exited()).code, 0);
  const took = performance.now() - stopping;
  assert.ok(took < 10_000, `shutdown took ${took} ms with a webhook that hangs`);
  const log = proc.lines.join("\n");
  assert.match(log, /dropping new ones/);
  assert.match(log, /http:\/\/127\.0\.0\.1:\d+\/…/);
  assert.doesNotMatch(log, /hangingSecretToken/);
  assert.doesNotMatch(log, /\/services\//);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("notify: an operator's pause and resume, and a breaker trip, reach the webhooks that list them", async () => {
  await using broker = await Mosquitto.start();
  await using receiver = WebhookReceiver.start();
  const dir = await Deno.makeTempDir();
  const config = parseConfig(testConfig(dir, broker.url, {
    executors: { local: { type: "command", argv: ["false"] } },
    hosts: hostsConfig(2),
    policy: { minIntervalSec: 0, breaker: { failures: 2, withinSec: 3600 } },
    notify: {
      webhooks: [
        { url: receiver.url("/control"), phases: ["paused", "resumed", "breaker"] },
        { url: receiver.url("/slack"), phases: ["failed", "breaker"], format: "slack" },
      ],
    },
  }));
  await using events = await EventCollector.start(broker.url);
  await using controller = await Controller.start(config);
  await controller.conn.waitSubscribed();
  await using pub = await connectClient(broker.url);
  const control = (message: Record<string, unknown>) =>
    pub.publishAsync("mandrill/control", JSON.stringify(message), { qos: 1, retain: true });

  await control({ paused: true, reason: "game day", by: "ana@bastion", ts: 1 });
  await waitFor(() => receiver.bodies("/control").length === 1, { what: "the pause" });
  await control({ paused: false, reason: "done", by: "ana@bastion", ts: 2 });
  await waitFor(() => receiver.bodies("/control").length === 2, { what: "the resume" });

  await publishAll(pub, "mandrill/restart", [
    JSON.stringify({ id: "f-0", host: "web-0" }),
    JSON.stringify({ id: "f-1", host: "web-1" }),
  ]);
  await waitFor(() => events.phase("failed").length === 2, { what: "two failed restarts" });
  await waitFor(() => receiver.bodies("/control").length >= 4, { what: "the breaker's pause" });
  const [paused, resumed, breaker, pausedByBreaker] = receiver.bodies("/control") as Record<
    string,
    unknown
  >[];
  assert.deepEqual({ ...paused, ts: 0 }, {
    phase: "paused",
    reason: "game day",
    by: "ana@bastion",
    ts: 0,
  });
  assert.deepEqual({ ...resumed, ts: 0 }, {
    phase: "resumed",
    reason: "done",
    by: "ana@bastion",
    ts: 0,
  });
  assert.equal(breaker?.phase, "breaker");
  assert.match(String(breaker?.reason), /^breaker: 2 restarts failed/);
  assert.equal(pausedByBreaker?.phase, "paused");
  assert.equal(pausedByBreaker?.by, "breaker");

  await waitFor(() => receiver.bodies("/slack").length === 3, { what: "3 Slack messages" });
  const texts = (receiver.bodies("/slack") as { text: string }[]).map((b) => b.text).sort();
  assert.match(
    texts[0]!,
    /^mandrill: breaker tripped, restarts paused — breaker: 2 restarts failed/,
  );
  assert.match(texts[1]!, /^mandrill: web-0 failed — .* \(request f-0\)$/);
  assert.match(texts[2]!, /^mandrill: web-1 failed — .* \(request f-1\)$/);
  await controller.shutdown(); // lets what is queued go out
  assert.equal(
    receiver.bodies("/control").length,
    4,
    "the breaker's pause, back from the broker, was told twice",
  );
  await Deno.remove(dir, { recursive: true });
});
