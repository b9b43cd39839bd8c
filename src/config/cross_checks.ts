/**
 * Rules that span several fields (a host's executor must exist, ...), checked
 * on the raw input so they are reported together with every other mistake.
 * @module
 */
import type { PathIssue } from "./issues.ts";
import { suggestion } from "./suggest.ts";

type Json = Record<string, unknown>;

function _object(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Json
    : undefined;
}

/** Cross-field rules shared by both config files: the `mqtt` section. */
export function checkMqtt(input: unknown): PathIssue[] {
  const issues: PathIssue[] = [];
  const mqtt = _object(_object(input)?.mqtt);
  if (mqtt === undefined) return issues;
  const { reconnectMinMs: min, reconnectMaxMs: max } = mqtt;
  if (typeof min === "number" && typeof max === "number" && max < min) {
    issues.push({
      path: ["mqtt", "reconnectMaxMs"],
      message: `expected at least reconnectMinMs (${min}), got ${max}`,
    });
  }
  const tls = _object(mqtt.tls);
  if (tls !== undefined && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    const missing = tls.certFile === undefined ? "certFile" : "keyFile";
    const present = missing === "certFile" ? "keyFile" : "certFile";
    issues.push({ path: ["mqtt", "tls", missing], message: `is required when ${present} is set` });
  }
  return issues;
}

/** Cross-field rules of `mandrill agent`'s config. */
export function checkAgentConfig(input: unknown): PathIssue[] {
  const issues = checkMqtt(input);
  const security = _object(_object(input)?.security);
  if (security?.controllerKeyFile === undefined && security?.allowUnsigned !== true) {
    issues.push({
      path: ["security", "controllerKeyFile"],
      message:
        "is required: the agent runs only commands the controller signed (the controller's command.pub from `mandrill keygen`); " +
        "set security.allowUnsigned: true to run unsigned ones, on a trusted broker only",
    });
  }
  return issues;
}

/** Cross-field rules of `mandrill run`'s config. */
export function checkConfig(input: unknown): PathIssue[] {
  const root = _object(input);
  if (root === undefined) return [];
  const issues = checkMqtt(input);
  const executors = root.executors === undefined ? {} : _object(root.executors);
  const hosts = _object(root.hosts) ?? {};

  if (executors !== undefined) {
    const names = Object.keys(executors);
    // The path is made only for an issue: 100,000 hosts make no garbage.
    const checkName = (name: unknown, path: () => PropertyKey[]) => {
      if (typeof name !== "string" || name === "" || Object.hasOwn(executors, name)) return;
      const hint = names.length === 0 ? "; no executors are defined" : suggestion(name, names);
      issues.push({ path: path(), message: `unknown executor ${JSON.stringify(name)}${hint}` });
    };
    for (const host in hosts) {
      if (!Object.hasOwn(hosts, host)) continue;
      checkName(_object(hosts[host])?.executor, () => ["hosts", host, "executor"]);
    }
    const fleet = _object(root.fleet);
    checkName(fleet?.agentExecutor, () => ["fleet", "agentExecutor"]);
    if (fleet?.allowAgentHosts === true && fleet.agentExecutor === undefined) {
      issues.push({
        path: ["fleet", "agentExecutor"],
        message: "is required when fleet.allowAgentHosts is true",
      });
    }
  }

  const store = _object(root.store);
  if (store?.url !== undefined && store.path !== undefined) {
    issues.push({
      path: ["store", "url"],
      message: "set store.path (SQLite, one instance) or store.url (PostgreSQL, shared), not both",
    });
  }
  if (store?.url === undefined && store?.tls !== undefined) {
    issues.push({ path: ["store", "tls"], message: "is only used with store.url" });
  }

  const security = _object(root.security);
  const agentExecutors = Object.entries(executors ?? {})
    .filter(([, e]) => _object(e)?.type === "agent").map(([name]) => name);
  if (
    agentExecutors.length > 0 && security?.commandKeyFile === undefined &&
    security?.allowUnsigned !== true
  ) {
    issues.push({
      path: ["security", "commandKeyFile"],
      message: `is required with agent executors (${agentExecutors.join(", ")}): ` +
        "agents run only signed commands (make a key pair with `mandrill keygen`); " +
        "set security.allowUnsigned: true to send unsigned ones, on a trusted broker only",
    });
  }

  const retry = _object(_object(root.policy)?.retry);
  if (
    typeof retry?.minDelayMs === "number" && typeof retry.maxDelayMs === "number" &&
    retry.maxDelayMs < retry.minDelayMs
  ) {
    issues.push({
      path: ["policy", "retry", "maxDelayMs"],
      message: `expected at least minDelayMs (${retry.minDelayMs}), got ${retry.maxDelayMs}`,
    });
  }

  // A chaos group no host belongs to is almost always a typo of a group name.
  const hostGroups = new Set<string>();
  for (const host in hosts) {
    const group = Object.hasOwn(hosts, host) ? _object(hosts[host])?.group : undefined;
    if (typeof group === "string") hostGroups.add(group);
  }
  const chaosGroups = _object(_object(root.chaos)?.groups) ?? {};
  if (hostGroups.size > 0) {
    for (const group of Object.keys(chaosGroups)) {
      if (hostGroups.has(group)) continue;
      issues.push({
        path: ["chaos", "groups", group],
        message: `no host is in group ${JSON.stringify(group)}${
          suggestion(group, [...hostGroups])
        }`,
      });
    }
  }
  return issues;
}
