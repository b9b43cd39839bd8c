import assert from "node:assert/strict";
import {
  classifyStatus,
  killSwitchNotification,
  notificationBody,
  NOTIFY_PHASES,
  slackText,
} from "../../src/notify/mod.ts";
import { PHASES } from "../../src/contract/messages.ts";

Deno.test("NOTIFY_PHASES: every event phase, then paused, resumed and breaker", () => {
  assert.deepEqual(NOTIFY_PHASES, [...PHASES, "paused", "resumed", "breaker"]);
});

Deno.test("slackText() is one readable line per kind of notification", async (t) => {
  const cases: [Parameters<typeof slackText>[0], string][] = [
    [
      {
        id: "r-1",
        host: "web-1",
        phase: "failed",
        detail: "did not come back within 600 s",
        ts: 0,
      },
      "mandrill: web-1 failed — did not come back within 600 s (request r-1)",
    ],
    [
      { id: "r-2", host: "web-2", phase: "started", ts: 0 },
      "mandrill: web-2 started (request r-2)",
    ],
    [
      { id: "bad", host: "", phase: "rejected", detail: "host: must be\nan RFC 1123 host", ts: 0 },
      "mandrill: request bad rejected — host: must be an RFC 1123 host",
    ],
    [
      { phase: "paused", reason: "incident 42", by: "alice@bastion", ts: 0 },
      "mandrill: restarts paused by alice@bastion (operator) — incident 42",
    ],
    [{ phase: "resumed", ts: 0 }, "mandrill: restarts resumed"],
    [
      { phase: "paused", reason: "unverified control message", by: "mandrill", ts: 0 },
      "mandrill: restarts paused by mandrill itself — unverified control message",
    ],
    [
      { phase: "breaker", reason: "3 failures within 3600 s", ts: 0 },
      "mandrill: breaker tripped, restarts paused — 3 failures within 3600 s",
    ],
    [
      { phase: "paused", reason: "<!channel> & <https://evil|click>", ts: 0 },
      "mandrill: restarts paused — &lt;!channel&gt; &amp; &lt;https://evil|click&gt;",
    ],
  ];
  for (const [n, text] of cases) {
    await t.step(text, () => assert.equal(slackText(n), text));
  }
});

Deno.test("notificationBody(): json is the notification itself, slack is {text}", () => {
  const ev = {
    id: "r-1",
    host: "web-1",
    phase: "recovered" as const,
    detail: "back after 5.0s",
    ts: 9,
  };
  assert.deepEqual(JSON.parse(notificationBody(ev, "json")), ev);
  assert.deepEqual(JSON.parse(notificationBody(ev, "slack")), {
    text: "mandrill: web-1 recovered — back after 5.0s (request r-1)",
  });
});

Deno.test("killSwitchNotification(): a pause from its state, a resume from its message", () => {
  assert.deepEqual(
    killSwitchNotification({ reason: "incident", by: "bob@ops", since: 1 }, undefined, 5),
    { phase: "paused", reason: "incident", by: "bob@ops", ts: 5 },
  );
  assert.deepEqual(
    killSwitchNotification(undefined, { reason: "all clear", by: "bob@ops" }, 6),
    { phase: "resumed", reason: "all clear", by: "bob@ops", ts: 6 },
  );
  assert.deepEqual(killSwitchNotification(undefined, undefined, 7), { phase: "resumed", ts: 7 });
});

Deno.test("classifyStatus(): 2xx ok; 5xx and 429 retried; every other answer final", () => {
  assert.equal(classifyStatus(200), "ok");
  assert.equal(classifyStatus(204), "ok");
  assert.equal(classifyStatus(500), "retry");
  assert.equal(classifyStatus(503), "retry");
  assert.equal(classifyStatus(429), "retry");
  assert.equal(classifyStatus(400), "reject");
  assert.equal(classifyStatus(404), "reject");
  assert.equal(classifyStatus(302), "reject");
});
