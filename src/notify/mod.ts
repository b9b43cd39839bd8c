/**
 * Notifications: webhooks (JSON or Slack) told about request events, kill
 * switch changes and breaker trips, without ever blocking the pipeline.
 * @module
 */
export {
  type BreakerNotification,
  CONTROL_PHASES,
  type ControlNotification,
  killSwitchNotification,
  type Notification,
  notificationBody,
  NOTIFY_PHASES,
  type NotifyFormat,
  type NotifyPhase,
  slackText,
} from "./notification.ts";
export { classifyStatus, type Fetch, postJson, type PostOutcome } from "./post.ts";
export {
  type NotifyMetrics,
  type NotifyResult,
  webhookLabel,
  type WebhookSettings,
} from "./webhook_delivery.ts";
export { Webhooks, type WebhooksOptions } from "./webhooks.ts";
