/**
 * The zod schema of `mandrill run`'s config file, with every default filled in.
 * `{}` is a valid config; see DESIGN.md for a full example.
 * @module
 */
import { z } from "zod";
import { hostSchema } from "../contract/ids.ts";
import { chaosSchema } from "./chaos_schema.ts";
import { executorsSchema } from "./executors_schema.ts";
import {
  argumentString,
  budgetField,
  intField,
  nameField,
  nonEmptyString,
  portField,
  secondsField,
  secondsOrZeroField,
} from "./fields.ts";
import { logSchema, mqttSchema } from "./mqtt_schema.ts";
import { notifySchema } from "./notify_schema.ts";

const LISTEN_RE =
  /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]?\d{1,4})$/;

function _isPostgresUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return (url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== "";
}

/** One host mandrill may restart. */
export const hostEntrySchema = z.strictObject({
  executor: nonEmptyString().describe("Name of the entry of `executors` that restarts this host."),
  address: argumentString("an address or host name").optional().describe(
    "Address to connect to. Default: the host name.",
  ),
  group: nameField("a group name").optional().describe(
    "Group, for maxUnavailablePerGroup and chaos. A host with no group is a group of its own.",
  ),
  port: portField().optional().describe("Port for the executor (ssh), overriding the executor's."),
}).describe("A host mandrill may restart.");

/** The whole config file of `mandrill run`. */
export const configSchema = z.strictObject({
  $schema: z.string().optional().describe("JSON Schema of this file, for editors. Ignored."),
  mqtt: mqttSchema,
  store: z.strictObject({
    path: nonEmptyString().default("mandrill.db").describe(
      "SQLite file of the durable inbox and the history (one instance). Not with store.url.",
    ),
    synchronous: z.enum(["full", "normal"]).default("full").describe(
      '"full": every commit reaches the disk before mandrill acknowledges or runs anything, surviving power loss. "normal": faster; a crash of mandrill loses nothing, power loss may lose the last commits.',
    ),
    url: z.string().refine(_isPostgresUrl, {
      error: "expected a PostgreSQL URL such as postgres://mandrill@db.example:5432/mandrill",
    }).optional().describe(
      'PostgreSQL shared by every instance, instead of store.path: "postgres://user@host:5432/db". The password from "${PGPASSWORD}" expansion or the standard PG* variables; never in the file.',
    ),
    leaseSec: secondsField().default(15).describe(
      "store.url: how long an instance's claim on a request or a host lasts without renewal; an instance gone this long has its work taken over by the others.",
    ),
    tls: z.strictObject({
      caFile: nonEmptyString().optional().describe(
        "PEM file of the CA that signed the server's certificate. Default: the system's CAs.",
      ),
      rejectUnauthorized: z.boolean().default(true).describe(
        "Refuse a server whose certificate does not verify. Turn off only for tests.",
      ),
    }).optional().describe("store.url: TLS to PostgreSQL (required when set)."),
    retentionDays: intField(1).default(30).describe(
      "Finished requests, their history and dead letters older than this are deleted (hourly). A message id is remembered, for dedupe, this long.",
    ),
  }).prefault({}).describe("Durable storage."),
  http: z.strictObject({
    listen: z.string().regex(LISTEN_RE, {
      error: 'expected "host:port" such as "127.0.0.1:9464", or null',
    }).nullable().default("127.0.0.1:9464").describe(
      'Address of the /metrics and /healthz endpoint, "host:port"; null turns it off.',
    ),
  }).prefault({}).describe("HTTP endpoint for metrics and health."),
  executors: executorsSchema,
  hosts: z.record(hostSchema, hostEntrySchema).default(() => ({})).describe(
    "RFC 1123 host name -> how to restart it. Only these hosts (and agent-announced ones, if allowed) can be restarted.",
  ),
  fleet: z.strictObject({
    allowAgentHosts: z.boolean().default(false).describe(
      "Hosts not in `hosts` but announced by an agent heartbeat may be restarted, with `agentExecutor`.",
    ),
    agentExecutor: nonEmptyString().optional().describe(
      "Name of the executor for agent-announced hosts; required when allowAgentHosts is true.",
    ),
    maxHosts: intField(1).default(200000).describe(
      "Most hosts tracked in the fleet view; heartbeats from more are ignored.",
    ),
  }).prefault({}).describe("The fleet view built from agents' heartbeats."),
  policy: z.strictObject({
    dryRun: z.boolean().default(false).describe("Decide and log, but never restart anything."),
    maxUnavailable: intField(1).default(4).describe(
      "Most hosts unavailable at once, fleet-wide: being restarted, coming back, not back after a restart, or with an agent offline or stale. A restart that would exceed it waits (up to maxWaitSec).",
    ),
    maxUnavailablePerGroup: budgetField().default(1).describe(
      'Most hosts of one group unavailable at once: an integer, or a share of the group\'s hosts such as "25%" (rounded down, at least 1). A restart that would exceed it waits (up to maxWaitSec).',
    ),
    maxWaitSec: secondsOrZeroField().default(3600).describe(
      "How long a request may wait for the unavailability budget; then it is skipped, naming what is down.",
    ),
    minIntervalSec: intField(0).default(3600).describe(
      "Skip a host restarted less than this long ago.",
    ),
    maxPerHour: intField(1).default(30).describe("Most restarts in any rolling hour, fleet-wide."),
    minUptimeSec: intField(0).default(0).describe("Skip a host whose uptime is below this."),
    retry: z.strictObject({
      attempts: intField(1).default(1).describe("Attempts per request, the first included."),
      minDelayMs: intField(0).default(1000).describe(
        "Delay before the second attempt; doubles after.",
      ),
      maxDelayMs: intField(0).default(30000).describe("Longest delay between attempts."),
    }).prefault({}).describe("Retries of a failed restart."),
    breaker: z.strictObject({
      failures: intField(1).default(3).describe("Failed restarts that trip the breaker."),
      withinSec: secondsField().default(3600).describe("Window the failures are counted in."),
    }).nullable().prefault({}).describe(
      'When this many restarts fail or do not come back within the window, mandrill engages the kill switch itself (a retained pause on {p}/control, reason "breaker: ..."); "mandrill resume" releases it. null turns it off.',
    ),
  }).prefault({}).describe("Safety rules of the policy gate."),
  recovery: z.strictObject({
    timeoutSec: secondsField().default(600).describe(
      'Report "did not come back" when a host has not come back after this long (it stays unavailable until it is seen back).',
    ),
    probeIntervalSec: secondsField().default(5).describe(
      "First delay between recovery checks (SSH probes, health checks); they back off per host from there.",
    ),
    probeMaxIntervalSec: secondsField().default(60).describe(
      "Longest delay between two recovery checks of one host.",
    ),
    probeTimeoutSec: secondsField().default(10).describe(
      "Time limit of one SSH boot-id probe, including the one before a restart (which never stretches the executor's timeoutSec).",
    ),
    maxProbes: intField(1).default(16).describe(
      "Most recovery probe and health-check processes at once, fleet-wide, so probing many recovering hosts never starves restarts.",
    ),
  }).prefault({}).describe("Tracking how long restarted hosts take to come back."),
  chaos: chaosSchema,
  notify: notifySchema,
  security: z.strictObject({
    commandKeyFile: nonEmptyString().optional().describe(
      "The controller's private key (command.key from `mandrill keygen`, PKCS#8 PEM, mode 0600): signs every agent command and control message, and verifies control messages (unverified ones are ignored; an unverified retained one at start means paused).",
    ),
    allowUnsigned: z.boolean().default(false).describe(
      "With agent executors and no commandKeyFile: send unsigned commands (agents must allow them too). For tests and trusted brokers only.",
    ),
  }).prefault({}).describe("Signed commands and control."),
  shutdown: z.strictObject({
    graceSec: secondsOrZeroField().default(30).describe(
      "On SIGTERM, how long in-flight restarts may finish before they are aborted.",
    ),
  }).prefault({}).describe("Graceful shutdown."),
  log: logSchema,
  debug: z.strictObject({
    enabled: z.boolean().default(false).describe("Report slow callbacks and other debug aids."),
    slowMs: intField(0).default(100).describe(
      "A callback taking longer than this is reported as slow.",
    ),
  }).prefault({}).describe("Debugging aids."),
}).describe("Configuration of mandrill, the fleet restart controller.");

/** The config of `mandrill run`, every default filled in. */
export type Config = z.output<typeof configSchema>;
/** The config file as written: every field optional. */
export type ConfigInput = z.input<typeof configSchema>;
