/**
 * The `executors` section: named ways of restarting a host (ssh, agent, command).
 * @module
 */
import { z } from "zod";
import { argumentString, argvField, nonEmptyString, portField, secondsField } from "./fields.ts";

/** A local command that must pass before a restarted host counts as back. */
export const healthCheckSchema = z.strictObject({
  argv: argvField().describe(
    "Command and arguments, run on this machine with the host name appended. No shell. Exit 0 means healthy.",
  ),
  timeoutSec: secondsField().default(10).describe("Time limit of one check."),
}).describe(
  "A check that must also pass, retried with backoff, before the host counts as back (a host whose kernel booted but whose service is broken is not recovered).",
);

function _recoveryField(defaultMode: "boot" | "none") {
  return z.enum(["boot", "none"]).default(defaultMode).describe(
    `How a restarted host counts as back: "boot", when it reports a new boot id (from its agent, or an SSH probe); "none", when the command succeeded (for remediation that restarts a service, not the host). Default: "${defaultMode}".`,
  );
}

const DEFAULT_REBOOT = ["sudo", "systemctl", "reboot"];

/** Restart over OpenSSH: `ssh [options] user@address -- command...`. */
export const sshExecutorSchema = z.strictObject({
  type: z.literal("ssh"),
  user: argumentString("a user name").default("root").describe("Remote user to log in as."),
  port: portField().default(22).describe(
    "SSH port, unless the host entry sets its own `port`.",
  ),
  command: argvField().default(() => [...DEFAULT_REBOOT]).describe(
    "Remote command that restarts the host, one argument per element.",
  ),
  identityFile: nonEmptyString().optional().describe("Private key file (ssh -i)."),
  knownHostsFile: nonEmptyString().optional().describe(
    "known_hosts file (UserKnownHostsFile). Default: ssh's own.",
  ),
  strictHostKeyChecking: z.boolean().default(true).describe(
    "Refuse hosts whose key is unknown or changed (StrictHostKeyChecking=yes).",
  ),
  options: z.array(
    z.string().regex(/^[A-Za-z][A-Za-z0-9]*=\S.*$/, {
      error: 'expected an ssh option as "Key=Value", e.g. "ProxyJump=bastion"',
    }),
  ).default(() => []).describe('Extra ssh -o options, each "Key=Value".'),
  connectTimeoutSec: secondsField().default(10).describe(
    "ConnectTimeout for the TCP and SSH handshake.",
  ),
  serverAliveIntervalSec: secondsField().default(5).describe(
    "ServerAliveInterval: notices a host that went down mid-command.",
  ),
  timeoutSec: secondsField().default(60).describe("Kill ssh if the whole restart takes longer."),
  expectDisconnect: z.boolean().default(false).describe(
    "Count a dropped connection (ssh exit 255 after the command started) as success: reboot often kills the session.",
  ),
  recovery: _recoveryField("boot"),
  healthCheck: healthCheckSchema.optional(),
}).describe("Restart over OpenSSH, no shell on this side.");

/** Restart through the host's own `mandrill agent`, over MQTT. */
export const agentExecutorSchema = z.strictObject({
  type: z.literal("agent"),
  timeoutSec: secondsField().default(30).describe(
    "Fail if the agent has not reported a result by then.",
  ),
  staleSec: secondsField().default(90).describe(
    "An agent whose last heartbeat is older than this counts as stale: its host is unavailable, and no command is sent to it.",
  ),
  recovery: _recoveryField("boot"),
  healthCheck: healthCheckSchema.optional(),
}).describe("Restart by sending a command to the host's agent on {p}/agents/{host}/commands.");

/** Restart by running a local command with the host name as its last argument. */
export const commandExecutorSchema = z.strictObject({
  type: z.literal("command"),
  argv: argvField().describe("Command and arguments; the host name is appended. No shell."),
  timeoutSec: secondsField().default(30).describe("Kill the command if it runs longer."),
  recovery: z.literal("none").default("none").describe(
    'A command cannot see a boot id: its success is the end ("none"). Add a healthCheck to wait for the host to be healthy.',
  ),
  healthCheck: healthCheckSchema.optional(),
}).describe("Restart by running a local command: argv..., host.");

/** One executor, chosen by `type`. */
export const executorSchema = z.discriminatedUnion("type", [
  sshExecutorSchema,
  agentExecutorSchema,
  commandExecutorSchema,
]);

/** The `executors` section: name -> executor. */
export const executorsSchema = z.record(nonEmptyString(), executorSchema).default(() => ({}))
  .describe("Named executors; hosts refer to one by name.");
