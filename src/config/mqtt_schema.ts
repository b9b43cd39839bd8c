/**
 * The `mqtt` and `log` sections, shared by the controller's and the agent's config.
 * @module
 */
import { z } from "zod";
import { intField, nonEmptyString, secondsField } from "./fields.ts";

const MQTT_PROTOCOLS = new Set(["mqtt:", "mqtts:", "tcp:", "tls:", "ws:", "wss:"]);

function _isBrokerUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  return MQTT_PROTOCOLS.has(new URL(text).protocol);
}

const tlsSchema = z.strictObject({
  caFile: nonEmptyString().optional().describe(
    "PEM file of the CA that signed the broker's certificate. Default: the system's CAs.",
  ),
  certFile: nonEmptyString().optional().describe("PEM client certificate, for mutual TLS."),
  keyFile: nonEmptyString().optional().describe("PEM private key of `certFile`."),
  rejectUnauthorized: z.boolean().default(true).describe(
    "Refuse a broker whose certificate does not verify. Turn off only for tests.",
  ),
}).describe("TLS settings for mqtts:// and wss:// URLs.");

const mqttFields = {
  url: z.string().refine(_isBrokerUrl, {
    error: "expected a broker URL such as mqtt://host:1883 (mqtt, mqtts, tcp, tls, ws or wss)",
  }).default("mqtt://127.0.0.1:1883").describe(
    "Broker URL: mqtt://, mqtts:// (TLS), ws:// or wss://.",
  ),
  // MQTT forbids NUL in topics; + and # are wildcards, not allowed in a name.
  // deno-lint-ignore no-control-regex
  topicPrefix: z.string().regex(/^(?![/$])[^+#\u0000]*[^/+#\u0000]$/, {
    error:
      'expected a topic prefix: not empty, no "+" or "#", no leading "/" or "$", no trailing "/"',
  }).default("mandrill").describe(
    "Prefix of every topic: {topicPrefix}/restart, {topicPrefix}/events, ...",
  ),
  protocolVersion: z.literal([5, 4]).default(5).describe("MQTT protocol version: 5 or 4 (3.1.1)."),
  username: z.string().optional().describe("Broker user name. Supports ${ENV_VAR}."),
  password: z.string().optional().describe(
    'Broker password. Keep it out of the file: "${MQTT_PASSWORD}".',
  ),
  sharedGroup: z.string().regex(/^[A-Za-z0-9_-]+$/, {
    error: 'expected a group name of letters, digits, "_" or "-"',
  }).optional().describe(
    "Shared subscription group: instances with the same group split {p}/restart between them ($share/<group>/...).",
  ),
  sessionExpirySec: intField(0).default(3600).describe(
    "How long the broker keeps the session (and queued QoS 1 messages) after a disconnect (MQTT 5).",
  ),
  keepaliveSec: intField(0, 65535).default(30).describe("MQTT keepalive interval; 0 disables it."),
  connectTimeoutSec: secondsField().default(10).describe(
    "Give up on one connection attempt after this long.",
  ),
  reconnectMinMs: intField(0).default(500).describe(
    "First reconnect delay; doubles up to reconnectMaxMs.",
  ),
  reconnectMaxMs: intField(0).default(30000).describe("Longest reconnect delay."),
  tls: tlsSchema.optional(),
};

const clientIdField = nonEmptyString().describe(
  "MQTT client id; unique per connection (two clients with one id keep kicking each other off).",
);

/** The controller's `mqtt` section: where the broker is and how to talk to it. */
export const mqttSchema = z.strictObject({
  ...mqttFields,
  clientId: clientIdField.default("mandrill-1"),
}).prefault({}).describe("MQTT broker connection.");

/** The agent's `mqtt` section: as the controller's, but `clientId` defaults to `mandrill-agent-<host>`. */
export const agentMqttSchema = z.strictObject({
  ...mqttFields,
  clientId: clientIdField.optional(),
}).prefault({}).describe("MQTT broker connection. clientId defaults to mandrill-agent-<host>.");

/** Log levels, least to most severe (LogTape's names). */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

/** The `log` section. */
export const logSchema = z.strictObject({
  level: z.enum(LOG_LEVELS).default("info").describe("Least severe level written."),
  format: z.enum(["json", "pretty"]).default("json").describe(
    "json: one JSON object per line (for journald and log shippers); pretty: for a terminal.",
  ),
}).prefault({}).describe("Logging.");
