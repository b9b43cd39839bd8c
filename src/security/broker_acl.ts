/**
 * The broker's own access control for a deployment: a Mosquitto ACL file in
 * which the controller, each agent and the requesters may publish and read
 * only what the contract has them publish and read. Mosquitto applies it
 * before mandrill sees anything, so a client with an agent's password can
 * still not pose as another host, nor send commands or requests.
 * @module
 */
import type { Config } from "../config/mod.ts";
import { isValidHost } from "../contract/ids.ts";

/** What the ACL is built from. */
export interface BrokerAclOptions {
  /** `mqtt.topicPrefix`. */
  prefix: string;
  /** The controller's user name (`mqtt.username` of `mandrill run`). */
  controllerUser: string;
  /** The user name of clients that may only request restarts. */
  requesterUser: string;
  /** The hosts whose agents connect (each as a user named like its host). */
  agents: readonly string[];
}

/** A problem that makes the ACL unsafe to write, naming what to change. */
export class BrokerAclError extends Error {
  override name = "BrokerAclError";
}

/**
 * The Mosquitto ACL text. Throws a {@linkcode BrokerAclError} when a user
 * name would collide (an agent named like the controller's user would get the
 * controller's rules) or an agent name is not a valid host name.
 *
 * @example
 * ```ts
 * const acl = mosquittoAcl({
 *   prefix: "mandrill",
 *   controllerUser: "mandrill",
 *   requesterUser: "requesters",
 *   agents: ["web-1"],
 * });
 * acl.includes("pattern write mandrill/agents/%u/heartbeat"); // true
 * ```
 */
export function mosquittoAcl(o: BrokerAclOptions): string {
  for (const [what, user] of [["controller", o.controllerUser], ["requester", o.requesterUser]]) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(user!)) {
      throw new BrokerAclError(`the ${what} user name "${user}" is not 1-64 of [A-Za-z0-9._-]`);
    }
  }
  if (o.controllerUser === o.requesterUser) {
    throw new BrokerAclError(
      `the controller and the requesters cannot share the user name "${o.controllerUser}"`,
    );
  }
  const agents = [...new Set(o.agents)].sort();
  for (const host of agents) {
    if (!isValidHost(host)) throw new BrokerAclError(`agent "${host}" is not a valid host name`);
    if (host === o.controllerUser || host === o.requesterUser) {
      throw new BrokerAclError(
        `agent "${host}" has the name of the ${
          host === o.controllerUser ? "controller" : "requester"
        } user: it would get that user's rights; rename the user (mqtt.username, --requester-user)`,
      );
    }
  }
  const p = o.prefix;
  return [
    `# Mosquitto ACL for mandrill (topic prefix "${p}"), written by \`mandrill broker acl\`.`,
    "# Use with: allow_anonymous false, password_file FILE, acl_file THIS_FILE.",
    "# Anonymous clients get nothing: no rule precedes the first user line.",
    "",
    `# The controller (mandrill run, pause, resume): reads everything under ${p}/,`,
    "# publishes agent commands, events, dead letters, the kill switch, and",
    `# the sync marker with which it checks that ${p}/restart is delivered to it.`,
    `user ${o.controllerUser}`,
    `topic read ${p}/#`,
    `topic write ${p}/agents/+/commands`,
    `topic write ${p}/events`,
    `topic write ${p}/deadletter`,
    `topic write ${p}/control`,
    `topic write ${p}/restart`,
    "",
    "# Alerting and tooling: may only ask for restarts (the controller decides).",
    `user ${o.requesterUser}`,
    `topic write ${p}/restart`,
    "",
    "# Each agent logs in as its host name (%u): it may publish its own",
    "# heartbeat, status (and last will) and results, and read its own commands —",
    "# nothing of another host, no requests, no commands, no kill switch.",
    `pattern write ${p}/agents/%u/heartbeat`,
    `pattern write ${p}/agents/%u/status`,
    `pattern write ${p}/agents/%u/results`,
    `pattern read ${p}/agents/%u/commands`,
    "",
    `# Agent users (${agents.length}); add each to the password file:`,
    ...agents.map((h) => `#   mosquitto_passwd -b PASSWORD_FILE ${h} PASSWORD`),
    "",
  ].join("\n");
}

/**
 * The ACL's options from a `mandrill run` config: its prefix, its user, and
 * the hosts restarted through agents, plus `extraAgents` (hosts announced by
 * agents under `fleet.allowAgentHosts`, from `--agents-from`).
 */
export function aclOptionsFromConfig(
  config: Config,
  extra: { requesterUser?: string; extraAgents?: readonly string[] } = {},
): BrokerAclOptions {
  const agentExecutors = new Set(
    Object.entries(config.executors).filter(([, e]) => e.type === "agent").map(([name]) => name),
  );
  const agents = Object.entries(config.hosts)
    .filter(([, h]) => agentExecutors.has(h.executor))
    .map(([host]) => host);
  return {
    prefix: config.mqtt.topicPrefix,
    controllerUser: config.mqtt.username ?? "mandrill",
    requesterUser: extra.requesterUser ?? "requesters",
    agents: [...agents, ...(extra.extraAgents ?? [])],
  };
}
