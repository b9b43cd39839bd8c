// deno-lint-ignore-file no-console
/**
 * `mandrill broker acl --config FILE [--agents-from FILE] [--requester-user NAME]`:
 * prints the Mosquitto ACL file of a deployment (see src/security/broker_acl.ts).
 * @module
 */
import { loadConfig } from "../config/mod.ts";
import { errorMessage } from "../log.ts";
import { aclOptionsFromConfig, BrokerAclError, mosquittoAcl } from "../security/broker_acl.ts";
import { loadOrReport, parseCommand, usageError } from "./_common.ts";

/** Usage text of `mandrill broker`. */
export const BROKER_USAGE =
  `Usage: mandrill broker acl --config FILE [--agents-from FILE] [--requester-user NAME]

Prints a Mosquitto ACL file for this deployment (use with allow_anonymous
false and a password file): the controller (mqtt.username, default
"mandrill") reads everything under the topic prefix and publishes commands,
events, dead letters and control; each agent logs in as its host name and
may publish only its own heartbeat, status and results and read only its own
commands; the requester user may only publish restart requests.
Agent users are the hosts of the config whose executor is an agent, and
those listed in --agents-from (for fleet.allowAgentHosts).

Options:
  -c, --config FILE         The mandrill run config
      --agents-from FILE    More agent host names, one per line (# comments)
      --requester-user NAME The user that may request restarts (default requesters)
  -h, --help                Show this help`;

/** Host names in `text`: one per line, blank lines and `#` comments ignored. */
function _hostLines(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter((l) => l !== "");
}

/** Runs `mandrill broker ...`; resolves to the exit status (0 ok, 1 failed, 2 usage). */
export async function brokerCommand(args: string[]): Promise<number> {
  if (args[0] === "-h" || args[0] === "--help") {
    console.log(BROKER_USAGE);
    return 0;
  }
  if (args[0] !== "acl") {
    return usageError(
      "broker",
      BROKER_USAGE,
      args[0] === undefined ? "a subcommand is required" : `unknown subcommand "${args[0]}"`,
    );
  }
  const values = parseCommand("broker acl", {
    usage: BROKER_USAGE,
    flags: {
      config: { type: "string", short: "c" },
      "agents-from": { type: "string" },
      "requester-user": { type: "string" },
    },
    args: args.slice(1),
  });
  if (typeof values === "number") return values;
  const config = await loadOrReport(() => loadConfig(values.config!));
  if ("exit" in config) return config.exit;
  let extraAgents: string[] = [];
  if (values["agents-from"] !== undefined) {
    try {
      extraAgents = _hostLines(await Deno.readTextFile(values["agents-from"]));
    } catch (err) {
      console.error(
        `mandrill broker acl: --agents-from ${values["agents-from"]}: ${errorMessage(err)}`,
      );
      return 1;
    }
  }
  try {
    console.log(mosquittoAcl(aclOptionsFromConfig(config, {
      requesterUser: values["requester-user"],
      extraAgents,
    })));
    return 0;
  } catch (err) {
    if (!(err instanceof BrokerAclError)) throw err;
    const from = values["agents-from"] ? ` (--agents-from ${values["agents-from"]})` : "";
    console.error(`mandrill broker acl: ${err.message}${from}`);
    return 1;
  }
}
