import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { assertIssues, configErrorOf } from "./_assert.ts";

Deno.test("notify.webhooks: none by default; a webhook's defaults are filled in", () => {
  assert.deepEqual(parseConfig({}).notify, { webhooks: [] });
  const config = parseConfig({
    notify: { webhooks: [{ url: "https://hooks.example.com/x", phases: ["failed", "breaker"] }] },
  });
  assert.deepEqual(config.notify.webhooks, [{
    url: "https://hooks.example.com/x",
    phases: ["failed", "breaker"],
    format: "json",
    timeoutSec: 10,
    retries: 3,
    queueSize: 1000,
  }]);
});

Deno.test("notify.webhooks: ${VAR} in the url is expanded from the environment", () => {
  const config = parseConfig(
    { notify: { webhooks: [{ url: "${SLACK_WEBHOOK}", phases: ["paused"], format: "slack" }] } },
    { env: { SLACK_WEBHOOK: "https://hooks.slack.com/services/T0/B0/s3cr3t" } },
  );
  assert.equal(config.notify.webhooks[0]?.url, "https://hooks.slack.com/services/T0/B0/s3cr3t");
});

Deno.test("notify.webhooks: each mistake names its field", () => {
  assertIssues(() =>
    parseConfig({
      notify: {
        webhooks: [
          { url: "ftp://files.example.com/x", phases: ["faild", "paused", "exploded", 5] },
          { url: "https://ok.example.com", phases: [], format: "xml", retries: -1, queueSize: 0 },
          { phases: ["failed"], timeoutSec: 0, extra: true },
        ],
      },
    }), [
    {
      path: "notify.webhooks[0].url",
      message: 'expected an http:// or https:// URL, got "ftp://files.example.com/x"',
    },
    {
      path: "notify.webhooks[0].phases[0]",
      message: 'unknown phase "faild"; did you mean "failed"?',
    },
    {
      path: "notify.webhooks[0].phases[2]",
      message: 'unknown phase "exploded"; expected one of "received", "rejected", "skipped", ' +
        '"started", "succeeded", "failed", "interrupted", "recovered", "paused", "resumed", "breaker"',
    },
    {
      path: "notify.webhooks[0].phases[3]",
      message: "expected a phase: one of received, rejected, skipped, started, succeeded, " +
        "failed, interrupted, recovered, paused, resumed, breaker, got 5",
    },
    { path: "notify.webhooks[1].phases", message: "expected at least one phase, got []" },
    { path: "notify.webhooks[1].format", message: 'expected one of "json", "slack", got "xml"' },
    { path: "notify.webhooks[1].retries", message: "expected an integer from 0 to 10, got -1" },
    {
      path: "notify.webhooks[1].queueSize",
      message: "expected an integer from 1 to 1000000, got 0",
    },
    { path: "notify.webhooks[2].url", message: "is required" },
    {
      path: "notify.webhooks[2].timeoutSec",
      message: "expected a positive number of seconds, got 0",
    },
    {
      path: "notify.webhooks[2].extra",
      message:
        'unknown key; expected one of "url", "phases", "format", "timeoutSec", "retries", "queueSize"',
    },
  ]);
});

Deno.test("notify.webhooks: a bad url from the environment is reported without its value", () => {
  const error = configErrorOf(() =>
    parseConfig(
      { notify: { webhooks: [{ url: "${SLACK_WEBHOOK}", phases: ["failed"] }] } },
      { env: { SLACK_WEBHOOK: "hooks.slack.com/services/T0/B0/s3cr3t" } },
    )
  );
  assert.match(error.message, /notify\.webhooks\[0\]\.url: expected an http/);
  assert.doesNotMatch(error.message, /s3cr3t/);
});
