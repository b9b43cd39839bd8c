/**
 * What a webhook is told: a request's event (its `phase` as on `{p}/events`),
 * a change of the kill switch (`paused`, `resumed`) or a trip of the breaker
 * (`breaker`), and the two bodies it can be sent as (JSON, Slack). Pure.
 * @module
 */
import type { ControlMessage, PauseState } from "../chaos/control.ts";
import { PHASES, type RestartEvent } from "../contract/messages.ts";

/** Phases that are not a request's: the kill switch and the breaker. */
export const CONTROL_PHASES = ["paused", "resumed", "breaker"] as const;

/** Every phase a webhook can list in `phases`: the events' phases, then the control ones. */
export const NOTIFY_PHASES = [...PHASES, ...CONTROL_PHASES] as const;
/** One phase a webhook can be told about. */
export type NotifyPhase = typeof NOTIFY_PHASES[number];

/** How a webhook wants its body: the notification as JSON, or a Slack incoming-webhook message. */
export type NotifyFormat = "json" | "slack";

/** The kill switch was engaged or released. `by`: `user@host`, `breaker`, or `mandrill` (fail closed). */
export interface ControlNotification {
  phase: "paused" | "resumed";
  reason?: string;
  by?: string;
  ts: number;
}

/** The breaker engaged the kill switch. */
export interface BreakerNotification {
  phase: "breaker";
  reason: string;
  ts: number;
}

/** One thing to tell webhooks about; its JSON body is the object itself. */
export type Notification = RestartEvent | ControlNotification | BreakerNotification;

/**
 * The notification of a kill switch change to `state` (undefined: released),
 * made by `message` when one caused it (a resume carries its reason and who
 * only there).
 */
export function killSwitchNotification(
  state: PauseState | undefined,
  message: Pick<ControlMessage, "reason" | "by"> | undefined,
  now: number,
): ControlNotification {
  const n: ControlNotification = { phase: state ? "paused" : "resumed", ts: now };
  const reason = state ? state.reason : message?.reason;
  const by = state ? state.by : message?.by;
  if (reason !== undefined) n.reason = reason;
  if (by !== undefined) n.by = by;
  return n;
}

/** The body of `n` in `format`, as a JSON text. */
export function notificationBody(n: Notification, format: NotifyFormat): string {
  return JSON.stringify(format === "slack" ? { text: slackText(n) } : n);
}

/**
 * A readable one-line summary of `n` for Slack, escaped so a reason from the
 * wire cannot mention `@channel` or forge a link.
 *
 * @example
 * ```ts
 * slackText({ id: "r-1", host: "web-1", phase: "failed", detail: "did not come back within 600 s", ts: 0 });
 * // "mandrill: web-1 failed — did not come back within 600 s (request r-1)"
 * ```
 */
export function slackText(n: Notification): string {
  let text: string;
  switch (n.phase) {
    case "paused":
      text = `restarts paused${_byText(n.by)}${_detail(n.reason)}`;
      break;
    case "resumed":
      text = `restarts resumed${_byText(n.by)}${_detail(n.reason)}`;
      break;
    case "breaker":
      text = `breaker tripped, restarts paused${_detail(n.reason)}`;
      break;
    default: {
      const who = n.host === "" ? `request ${n.id}` : n.host;
      const id = n.host === "" ? "" : ` (request ${n.id})`;
      text = `${who} ${n.phase}${_detail(n.detail)}${id}`;
    }
  }
  return _escapeSlack(`mandrill: ${text}`.replace(/\s+/g, " "));
}

/** Who changed the kill switch, as words: the breaker, mandrill itself, or an operator. */
function _byText(by: string | undefined): string {
  if (by === undefined) return "";
  if (by === "breaker") return " by the breaker";
  if (by === "mandrill") return " by mandrill itself";
  return ` by ${by} (operator)`;
}

function _detail(text: string | undefined): string {
  return text ? ` — ${text}` : "";
}

/** Slack's three control characters in message text. */
function _escapeSlack(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}
