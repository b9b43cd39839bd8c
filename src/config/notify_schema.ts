/**
 * The `notify` section: webhooks told about request events, kill switch
 * changes and breaker trips.
 * @module
 */
import { z } from "zod";
import { NOTIFY_PHASES } from "../notify/mod.ts";
import { intField, secondsField } from "./fields.ts";
import { suggestion } from "./suggest.ts";

function _isHttpUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
}

const _phaseField = z.enum(NOTIFY_PHASES, {
  error: (issue) => {
    const input = issue.input;
    if (typeof input !== "string") return `expected a phase: one of ${NOTIFY_PHASES.join(", ")}`;
    return `unknown phase ${JSON.stringify(input)}${suggestion(input, NOTIFY_PHASES)}`;
  },
});

/** One webhook of `notify.webhooks`. */
export const webhookSchema = z.strictObject({
  url: z.string().refine(_isHttpUrl, {
    error: "expected an http:// or https:// URL",
  }).describe(
    'Where to POST. Put a secret (a Slack webhook\'s path) in the environment: "${SLACK_WEBHOOK_URL}". Logs and metrics show only its scheme and host.',
  ),
  phases: z.array(_phaseField).min(1, { error: "expected at least one phase" }).describe(
    `What to be told about: request phases (received, rejected, skipped, started, succeeded, failed, interrupted, recovered), the kill switch (paused, resumed: with reason and who, an operator or the breaker) and breaker trips (breaker).`,
  ),
  format: z.enum(["json", "slack"]).default("json").describe(
    '"json": the event as published on {p}/events (or {"phase", "reason", "by", "ts"} for the kill switch and the breaker). "slack": a Slack incoming-webhook message, {"text": "mandrill: web-1 failed — ..."}.',
  ),
  timeoutSec: secondsField().default(10).describe("Time limit of one POST."),
  retries: intField(0, 10).default(3).describe(
    "Tries after the first on a network error, a timeout, a 5xx or a 429, with capped exponential backoff (1 s, 2 s, 4 s, ... up to 30 s, jittered). Other 4xx are not retried.",
  ),
  queueSize: intField(1, 1_000_000).default(1000).describe(
    "Most notifications waiting for this webhook; more are dropped and counted in mandrill_notify_dropped_total. Requests never wait for a webhook.",
  ),
}).describe("A webhook: one POST per notification whose phase it lists.");

/** The `notify` section. */
export const notifySchema = z.strictObject({
  webhooks: z.array(webhookSchema).default(() => []).describe(
    "Webhooks (JSON or Slack) to tell about events. Default: none.",
  ),
}).prefault({}).describe("Notifications.");
