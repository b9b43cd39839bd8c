/**
 * Pure parsing of config data: env expansion, schema validation, cross-field
 * rules, every problem collected into one {@linkcode ConfigError}.
 * @module
 */
import { z } from "zod";
import { hostSchema } from "../contract/ids.ts";
import { type AgentConfig, agentConfigSchema } from "./agent_schema.ts";
import { checkAgentConfig, checkConfig } from "./cross_checks.ts";
import { expandEnv } from "./env.ts";
import { ConfigError } from "./error.ts";
import {
  invalidKeyMessage,
  IssueCollector,
  isWithin,
  type PathIssue,
  toConfigIssue,
} from "./issues.ts";
import { type Config, configSchema, hostEntrySchema } from "./schema.ts";

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
  return _parse(configSchema, json, options, checkConfig, (input, collector) => {
    if (!_isPlainObject(input) || !_isPlainObject(input.hosts)) return { input, issues: [] };
    const { hosts, issues } = _parseHosts(input.hosts, collector);
    return {
      input: { ...input, hosts: {} },
      issues,
      fill: (config: Config) => {
        config.hosts = hosts;
      },
    };
  });
}

type _HostEntry = Config["hosts"][string];

/**
 * `hosts` validated one distinct entry at a time, as zod's record of
 * {@linkcode hostEntrySchema} would, with the same issues. Hosts with the same
 * settings share one frozen entry: a fleet of 100,000 agent hosts in 100
 * groups is validated 100 times and holds 100 entries, not 100,000, and
 * nothing but the record is built per host.
 */
function _parseHosts(
  raw: Record<string, unknown>,
  collector: IssueCollector,
): { hosts: Config["hosts"]; issues: PathIssue[] } {
  const hosts: Config["hosts"] = {};
  const issues: PathIssue[] = [];
  // The entry as written -> its result; an entry as parsed -> its one shared copy.
  const written = new Map<string, _HostEntry | readonly PathIssue[]>();
  const shared = new Map<string, _HostEntry>();
  for (const host of Object.keys(raw)) {
    const name = hostSchema.safeParse(host, { error: collector.errorMap });
    if (!name.success) {
      // Like zod's record: a bad key's entry is not looked at.
      issues.push({ path: ["hosts", host], message: invalidKeyMessage(name.error.issues) });
      continue;
    }
    const entry = raw[host];
    const key = _jsonKey(entry);
    let parsed = key === undefined ? undefined : written.get(key);
    if (parsed === undefined) {
      const result = hostEntrySchema.safeParse(entry, {
        error: collector.errorMap,
        reportInput: true,
      });
      if (result.success) {
        // Zod builds every entry in the schema's key order, so equal entries print alike.
        const printed = JSON.stringify(result.data);
        parsed = shared.get(printed);
        if (parsed === undefined) shared.set(printed, parsed = Object.freeze(result.data));
      } else parsed = collector.translate(result.error.issues);
      if (key !== undefined) written.set(key, parsed);
    }
    if (Array.isArray(parsed)) {
      for (const issue of parsed) {
        issues.push({ path: ["hosts", host, ...issue.path], message: issue.message });
      }
    } else hosts[host] = parsed as _HostEntry;
  }
  return { hosts, issues };
}

/** `entry` as JSON, to recognize an entry written twice; undefined for what JSON cannot hold. */
function _jsonKey(entry: unknown): string | undefined {
  if (typeof entry !== "object" || entry === null) return undefined;
  try {
    return JSON.stringify(entry);
  } catch {
    return undefined; // a BigInt or a cycle: validated on its own
  }
}

/** The kind of object zod's `z.record` accepts: a plain object, not an array. */
function _isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Validates parsed JSON as `mandrill agent`'s config and fills in the defaults.
 * @throws {ConfigError} listing every problem found.
 */
export function parseAgentConfig(json: unknown, options: ParseConfigOptions = {}): AgentConfig {
  return _parse(agentConfigSchema, json, options, checkAgentConfig);
}

/**
 * Validates one top-level field of the input apart from the schema: returns
 * the input the schema gets instead, that field's issues, and what puts the
 * field into the schema's output.
 */
type _Apart<T> = (
  input: unknown,
  collector: IssueCollector,
) => { input: unknown; issues: readonly PathIssue[]; fill?: (output: T) => void };

/**
 * `schemaIssues` with `apartIssues` (all under one top-level field) where
 * zod would have put them: in the order of the schema's fields, unknown
 * keys last.
 */
function _inSchemaOrder(
  schema: z.ZodType,
  schemaIssues: PathIssue[],
  apartIssues: readonly PathIssue[],
): PathIssue[] {
  if (apartIssues.length === 0) return schemaIssues;
  const fields = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
  const rank = (issue: PathIssue) => {
    const i = fields.indexOf(String(issue.path[0]));
    return issue.path.length === 0 ? -1 : i === -1 ? fields.length : i;
  };
  const at = rank(apartIssues[0]!);
  const before = schemaIssues.findIndex((issue) => rank(issue) > at);
  return before === -1
    ? [...schemaIssues, ...apartIssues]
    : [...schemaIssues.slice(0, before), ...apartIssues, ...schemaIssues.slice(before)];
}

function _parse<S extends z.ZodType>(
  schema: S,
  json: unknown,
  options: ParseConfigOptions,
  crossCheck: (input: unknown) => PathIssue[],
  apart?: _Apart<z.output<S>>,
): z.output<S> {
  const envIssues: PathIssue[] = [];
  const env = options.env ?? {};
  const expanded = _expandDeep(json, env, [], envIssues);
  const collector = new IssueCollector();
  const split: ReturnType<_Apart<z.output<S>>> = apart?.(expanded, collector) ??
    { input: expanded, issues: [] };
  const result = schema.safeParse(split.input, { error: collector.errorMap, reportInput: true });
  const schemaIssues = _inSchemaOrder(
    schema,
    result.success ? [] : collector.translate(result.error.issues),
    split.issues,
  );

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
  split.fill?.(result.data);
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
