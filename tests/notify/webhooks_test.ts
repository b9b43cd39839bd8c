import assert from "node:assert/strict";
import { Metrics } from "../../src/http/metrics.ts";
import { setupLogging } from "../../src/log.ts";
import type { RestartEvent } from "../../src/contract/messages.ts";
import {
  killSwitchNotification,
  type NotifyResult,
  webhookLabel,
  Webhooks,
  type WebhookSettings,
} from "../../src/notify/mod.ts";
import { WebhookReceiver } from "../_helpers/webhook_receiver.ts";
import { freePort, waitFor } from "../_helpers/wait.ts";

const FAST = { backoff: { minDelayMs: 1, maxDelayMs: 5 } };

function hook(url: string, overrides: Partial<WebhookSettings> = {}): WebhookSettings {
  return {
    url,
    phases: ["failed"],
    format: "json",
    timeoutSec: 10,
    retries: 3,
    queueSize: 1000,
    ...overrides,
  };
}

function event(i: number, phase: RestartEvent["phase"], detail?: string): RestartEvent {
  return { id: `r-${i}`, host: `web-${i}`, phase, ...(detail ? { detail } : {}), ts: 1_000 + i };
}

/** The value of `mandrill_notify_<result>_total{webhook}`. */
async function count(metrics: Metrics, result: NotifyResult, webhook: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(`mandrill_notify_${result}_total`);
  assert.ok(metric, `mandrill_notify_${result}_total is not registered`);
  const { values } = await metric.get();
  return values.find((v) => v.labels.webhook === webhook)?.value ?? 0;
}

Deno.test("webhooks are told only about the phases they list, as JSON or as Slack text", async () => {
  await using receiver = WebhookReceiver.start();
  const metrics = new Metrics();
  await using webhooks = new Webhooks([
    hook(receiver.url("/json"), { phases: ["failed", "paused"] }),
    hook(receiver.url("/slack"), {
      phases: ["succeeded", "paused", "resumed", "breaker"],
      format: "slack",
    }),
  ], { metrics, ...FAST });
  webhooks.event(event(1, "received"));
  webhooks.event(event(1, "started"));
  webhooks.event(event(1, "succeeded"));
  webhooks.event(event(2, "failed", "did not come back within 600 s"));
  webhooks.notify({ phase: "breaker", reason: "3 failures within 3600 s", ts: 5 });
  webhooks.notify(
    killSwitchNotification(
      { reason: "breaker: 3 failures", by: "breaker", since: 4 },
      undefined,
      6,
    ),
  );
  webhooks.notify(
    killSwitchNotification(undefined, { reason: "fixed <!channel>", by: "alice@bastion" }, 7),
  );
  await waitFor(() => receiver.posts.length === 6, { what: "6 POSTs" });

  assert.deepEqual(receiver.bodies("/json"), [
    {
      id: "r-2",
      host: "web-2",
      phase: "failed",
      detail: "did not come back within 600 s",
      ts: 1002,
    },
    { phase: "paused", reason: "breaker: 3 failures", by: "breaker", ts: 6 },
  ]);
  assert.deepEqual(receiver.bodies("/slack"), [
    { text: "mandrill: web-1 succeeded (request r-1)" },
    { text: "mandrill: breaker tripped, restarts paused — 3 failures within 3600 s" },
    { text: "mandrill: restarts paused by the breaker — breaker: 3 failures" },
    { text: "mandrill: restarts resumed by alice@bastion (operator) — fixed &lt;!channel&gt;" },
  ]);
  for (const post of receiver.posts) {
    assert.equal(post.method, "POST");
    assert.equal(post.contentType, "application/json");
  }
  const json = webhookLabel(0, receiver.url("/json"));
  const slack = webhookLabel(1, receiver.url("/slack"));
  assert.match(json, /^0:127\.0\.0\.1:\d+$/, "the label holds no path");
  await waitFor(async () => (await count(metrics, "sent", slack)) === 4, { what: "4 sent" });
  assert.equal(await count(metrics, "sent", json), 2);
  assert.equal(await count(metrics, "failed", json), 0);
  assert.equal(await count(metrics, "dropped", json), 0);
});

Deno.test("a receiver answering 500 twice then 200: the notification is delivered once, after two retries", async () => {
  await using receiver = WebhookReceiver.start((n) => n < 2 ? 500 : 200);
  const metrics = new Metrics();
  await using webhooks = new Webhooks([hook(receiver.url())], { metrics, ...FAST });
  const label = webhookLabel(0, receiver.url());
  webhooks.event(event(1, "failed", "ssh exited with 255"));
  await waitFor(async () => (await count(metrics, "sent", label)) === 1, { what: "1 sent" });
  assert.equal(receiver.posts.length, 3, "two retries, then delivered");
  assert.deepEqual(receiver.bodies()[0], receiver.bodies()[2], "each try sends the same body");
  assert.equal(await count(metrics, "failed", label), 0);
  await webhooks.close();
  assert.equal(receiver.posts.length, 3, "nothing sent after its delivery");
});

Deno.test("failures are counted: 4xx is not retried, 5xx and 429 are until retries run out, one WARN per streak", async (t) => {
  for (const [status, retries, posts] of [[404, 3, 1], [503, 2, 3], [429, 1, 2]] as const) {
    await t.step(
      `HTTP ${status}, retries ${retries}: ${posts} POSTs per notification`,
      async () => {
        const lines: string[] = [];
        await using _log = await setupLogging({ write: (l) => lines.push(l) });
        await using receiver = WebhookReceiver.start(() => status);
        const metrics = new Metrics();
        await using webhooks = new Webhooks([hook(receiver.url(), { retries })], {
          metrics,
          ...FAST,
        });
        const label = webhookLabel(0, receiver.url());
        for (let i = 0; i < 3; i++) webhooks.event(event(i, "failed"));
        await waitFor(async () => (await count(metrics, "failed", label)) === 3, {
          what: "3 failed",
        });
        assert.equal(receiver.posts.length, 3 * posts);
        assert.equal(await count(metrics, "sent", label), 0);
        const warnings = lines.map((l) => JSON.parse(l)).filter((r) => r.level === "WARN");
        assert.equal(warnings.length, 1, `one WARN, got ${JSON.stringify(warnings)}`);
        assert.match(warnings[0].message, new RegExp(`HTTP ${status}`));
      },
    );
  }
});

Deno.test("a receiver that hangs: the queue overflows, drops are counted, enqueueing never waits", async () => {
  await using receiver = WebhookReceiver.start(() => "hang");
  const metrics = new Metrics();
  const webhooks = new Webhooks([hook(receiver.url(), { queueSize: 10, timeoutSec: 60 })], {
    metrics,
    ...FAST,
  });
  const label = webhookLabel(0, receiver.url());
  // Synchronous: by the time the loop ends, nothing has been sent yet, so the
  // queue holds the first 10 and every other notification was dropped then.
  for (let i = 0; i < 1000; i++) {
    const returned: unknown = webhooks.event(event(i, "failed"));
    assert.equal(returned, undefined, "event() returned something to wait for");
  }
  assert.equal(await count(metrics, "dropped", label), 990);
  await waitFor(() => receiver.posts.length === 1, { what: "the first POST to hang" });
  webhooks.event(event(1000, "failed")); // one left the queue to be sent: room for one
  webhooks.event(event(1001, "failed"));
  assert.equal(await count(metrics, "dropped", label), 991);

  const closing = performance.now();
  await webhooks.close(200);
  const took = performance.now() - closing;
  assert.ok(took < 2_000, `close() took ${took} ms with a grace of 200 ms`);
  assert.equal(receiver.posts.length, 1, "one request in flight at a time");
  assert.equal(await count(metrics, "dropped", label), 1002, "everything unsent counts as dropped");
  assert.equal(await count(metrics, "sent", label), 0);
  webhooks.event(event(2000, "failed"));
  assert.equal(await count(metrics, "dropped", label), 1003, "after close, dropped at once");
});

Deno.test("close() lets queued notifications go out before it resolves", async () => {
  await using receiver = WebhookReceiver.start();
  const metrics = new Metrics();
  const webhooks = new Webhooks([hook(receiver.url())], { metrics, ...FAST });
  for (let i = 0; i < 20; i++) webhooks.event(event(i, "failed"));
  await webhooks.close();
  assert.deepEqual(
    receiver.bodies().map((b) => (b as RestartEvent).id),
    Array.from({ length: 20 }, (_, i) => `r-${i}`),
    "all sent, in order",
  );
  assert.equal(await count(metrics, "sent", webhookLabel(0, receiver.url())), 20);
});

Deno.test("a URL's secret path never reaches the log: refused connections, 4xx, timeouts, a full queue", async () => {
  const secret = "T0000/B0000/XXXXsecretXXXX";
  const lines: string[] = [];
  {
    await using _log = await setupLogging({ level: "debug", write: (l) => lines.push(l) });
    await using refusing = WebhookReceiver.start(() => 404);
    await using hanging = WebhookReceiver.start(() => "hang");
    const closed = `http://127.0.0.1:${freePort()}/services/${secret}`;
    const metrics = new Metrics();
    await using webhooks = new Webhooks([
      hook(closed, { retries: 1 }),
      hook(refusing.url(`/services/${secret}`)),
      hook(`http://user:pa55word@127.0.0.1:${freePort()}/services/${secret}?token=${secret}`, {
        retries: 0,
      }),
      hook(hanging.url(`/services/${secret}`), { timeoutSec: 0.05, retries: 0, queueSize: 1 }),
    ], { metrics, ...FAST });
    for (let i = 0; i < 5; i++) webhooks.event(event(i, "failed"));
    await waitFor(async () => {
      const failed = await Promise.all(
        [closed, refusing.url(`/services/${secret}`)].map((u, i) =>
          count(metrics, "failed", webhookLabel(i, u))
        ),
      );
      return failed.every((n) => n === 5);
    }, { what: "every notification to fail" });
    await waitFor(() => lines.filter((l) => /no answer within/.test(l)).length === 1, {
      what: "the timeout to be logged",
    });
  }
  const all = lines.join("\n");
  assert.match(all, /Connection refused|tcp connect error/, "the network error is logged");
  assert.match(all, /HTTP 404/);
  assert.match(all, /dropping new ones/);
  assert.match(all, /http:\/\/127\.0\.0\.1:\d+\/…/, "the URL is logged as scheme and host");
  assert.doesNotMatch(all, /XXXXsecretXXXX/);
  assert.doesNotMatch(all, /\/services\//);
  assert.doesNotMatch(all, /pa55word/);
});

Deno.test("a kill switch state is told once: the same pause again (stamped later) is not news", async () => {
  await using receiver = WebhookReceiver.start();
  const webhooks = new Webhooks([hook(receiver.url(), { phases: ["paused", "resumed"] })], FAST);
  const pause = { reason: "breaker: 3 failures", by: "breaker" };
  webhooks.notify(killSwitchNotification({ ...pause, since: 1 }, undefined, 1));
  webhooks.notify(killSwitchNotification({ ...pause, since: 2 }, undefined, 2));
  webhooks.notify(killSwitchNotification({ reason: "incident 42", by: "ana@ops" }, undefined, 3));
  webhooks.notify(killSwitchNotification(undefined, undefined, 4));
  webhooks.notify(killSwitchNotification(undefined, undefined, 5));
  webhooks.notify(killSwitchNotification({ ...pause, since: 6 }, undefined, 6));
  await webhooks.close();
  assert.deepEqual(receiver.bodies().map((b) => (b as { ts: number }).ts), [1, 3, 4, 6]);
});
