/**
 * Pure parsing of config data: env expansion, schema validation, cross-field
 * rules, every problem collected into one {@linkcode ConfigError}.
 * @module
 */
import type { z } from "zod";
import { type AgentConfig, agentConfigSchema } from "./agent_schema.ts";
import { checkAgentConfig, checkConfig } from "./cross_checks.ts";
import { expandEnv } from "./env.ts";
import { ConfigError } from "./error.ts";
import { IssueCollector, isWithin, type PathIssue, toConfigIssue } from "./issues.ts";
import { type Config, configSchema } from "./schema.ts";

/** Options of {@linkcode parseConfig} and {@linkcode parseAgentConfig}. */
export interface ParseConfigOptions {
  /** File the data came from, named in error messages. Default: none. */
  file?: string;
  /** Variables for `${NAME}` expansion. Default: `{}` (any `${NAME}` is an error). */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Validates parsed JSON as `mandrill run`'s config and fills in the defaults.
 * Pure: reads nothing but its arguments.
 *
 * @example
 * ```ts
 * const config = parseConfig({ policy: { dryRun: true } });
 * config.policy.maxConcurrent; // 4
 * ```
 * @throws {ConfigError} listing every problem found.
 */
export function parseConfig(json: unknown, options: ParseConfigOptions = {}): Config {
  const config = _parse(configSchema, json, options, checkConfig);
  _shareEqualEntries(config.hosts);
  return config;
}

/**
 * Hosts with the same settings share one frozen entry object: a fleet of
 * 100,000 agent hosts in 100 groups holds 100 entries, not 100,000.
 */
function _shareEqualEntries(hosts: Config["hosts"]): void {
  const shared = new Map<string, Config["hosts"][string]>();
  for (const host in hosts) {
    if (!Object.hasOwn(hosts, host)) continue;
    const entry = hosts[host]!;
    // Zod builds every entry in the schema's key order, so equal entries print alike.
    const key = JSON.stringify(entry);
    let one = shared.get(key);
    if (one === undefined) shared.set(key, one = Object.freeze(entry));
    hosts[host] = one;
  }
}

/**
 * Validates parsed JSON as `mandrill agent`'s config and fills in the defaults.
 * @throws {ConfigError} listing every problem found.
 */
export function parseAgentConfig(json: unknown, options: ParseConfigOptions = {}): AgentConfig {
  return _parse(agentConfigSchema, json, options, checkAgentConfig);
}

function _parse<S extends z.ZodType>(
  schema: S,
  json: unknown,
  options: ParseConfigOptions,
  crossCheck: (input: unknown) => PathIssue[],
): z.output<S> {
  const envIssues: PathIssue[] = [];
  const env = options.env ?? {};
  const expanded = _expandDeep(json, env, [], envIssues);
  const collector = new IssueCollector();
  const result = schema.safeParse(expanded, { error: collector.errorMap, reportInput: true });
  const schemaIssues = result.success ? [] : collector.translate(result.error.issues);

  // An unexpanded "${X}" would fail validation too: report the cause once.
  const issues = [
    ...envIssues,
    ...schemaIssues.filter((issue) => !envIssues.some((env) => isWithin(issue.path, env.path))),
  ];
  for (const issue of crossCheck(expanded)) {
    if (!issues.some((other) => isWithin(issue.path, other.path))) issues.push(issue);
  }
  if (issues.length > 0 || !result.success) {
    // Values from the environment are secrets: never echo them in a message.
    const secrets = _referencedValues(json, env);
    const redact = (message: string) =>
      secrets.reduce((m, secret) => m.split(secret).join("***"), message);
    throw new ConfigError(
      issues.map(toConfigIssue).map((i) => ({ ...i, message: redact(i.message) })),
      { file: options.file },
    );
  }
  return result.data;
}

/**
 * `value` with every `${NAME}` expanded. Copy on write: what holds no `$` is
 * returned as is (a config of 100,000 hosts is not copied), and `path` is one
 * stack, copied only into an issue.
 */
function _expandDeep(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  path: PropertyKey[],
  issues: PathIssue[],
): unknown {
  if (typeof value === "string") {
    if (!value.includes("$")) return value;
    const expansion = expandEnv(value, env);
    switch (expansion.kind) {
      case "ok":
        return expansion.value;
      case "missing": {
        const names = expansion.names;
        issues.push({
          path: [...path],
          message: names.length === 1
            ? `environment variable ${names[0]} is not set`
            : `environment variables ${names.join(", ")} are not set`,
        });
        return value;
      }
      case "invalid":
        issues.push({
          path: [...path],
          message: `invalid reference ${JSON.stringify(expansion.reference)}: ` +
            'expected ${NAME} with NAME of letters, digits and "_" (write $${ for a literal ${)',
        });
        return value;
    }
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      const item = _expandDeep(value[i], env, path, issues);
      path.pop();
      if (item !== value[i]) (copy ??= [...value])[i] = item;
    }
    return copy ?? value;
  }
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    let copy: [string, unknown][] | undefined;
    const keys = Object.keys(record);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      path.push(key);
      const item = _expandDeep(record[key], env, path, issues);
      path.pop();
      if (item !== record[key]) (copy ??= Object.entries(record))[i] = [key, item];
    }
    // fromEntries defines own properties, so a "__proto__" key stays a plain key.
    return copy ? Object.fromEntries(copy) : value;
  }
  return value;
}

/** The values of every environment variable `json` refers to with `${NAME}`, longest first. */
function _referencedValues(
  json: unknown,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === "string") {
      for (const m of v.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
        const value = env[m[1]!];
        if (value && value.length >= 3) out.add(value);
      }
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === "object" && v !== null) Object.values(v).forEach(walk);
  };
  walk(json);
  return [...out].sort((a, b) => b.length - a.length);
}
