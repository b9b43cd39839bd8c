/**
 * The zod schema of `mandrill agent`'s config file.
 * @module
 */
import { z } from "zod";
import { hostSchema } from "../contract/ids.ts";
import { argvField, nonEmptyString, secondsField } from "./fields.ts";
import { agentMqttSchema, logSchema } from "./mqtt_schema.ts";

/** The whole config file of `mandrill agent`. */
export const agentConfigSchema = z.strictObject({
  $schema: z.string().optional().describe("JSON Schema of this file, for editors. Ignored."),
  mqtt: agentMqttSchema,
  host: hostSchema.describe("This host's RFC 1123 name, as the controller knows it."),
  heartbeatSec: secondsField().default(10).describe("Interval between heartbeats."),
  restart: z.strictObject({
    argv: argvField().default(() => ["sudo", "systemctl", "reboot"]).describe(
      "Command that restarts this host. No shell.",
    ),
    timeoutSec: secondsField().default(60).describe("Kill the restart command if it runs longer."),
  }).prefault({}).describe("How this host restarts itself."),
  stateFile: nonEmptyString().default("mandrill-agent.json").describe(
    "Remembers the command ids already executed, so a redelivered command never runs twice.",
  ),
  procRoot: nonEmptyString().default("/proc").describe(
    "Where to read uptime and boot_id (tests point it at a fake).",
  ),
  security: z.strictObject({
    controllerKeyFile: nonEmptyString().optional().describe(
      "The controller's public key (command.pub from `mandrill keygen`, SPKI PEM): only commands it signed, for this host and not expired, run.",
    ),
    allowUnsigned: z.boolean().default(false).describe(
      "Without controllerKeyFile, run unsigned commands: anyone who can publish on the broker could then restart this host. For tests and trusted brokers only.",
    ),
    maxClockSkewSec: secondsField().default(60).describe(
      "Refuse a command issued more than this far in the future (the controller's clock ahead of this host's).",
    ),
  }).prefault({}).describe("Which commands this agent trusts."),
  log: logSchema,
}).transform((config) => ({
  ...config,
  mqtt: { ...config.mqtt, clientId: config.mqtt.clientId ?? `mandrill-agent-${config.host}` },
})).describe("Configuration of mandrill agent, which runs on each fleet host.");

/** The config of `mandrill agent`, every default filled in. */
export type AgentConfig = z.output<typeof agentConfigSchema>;
