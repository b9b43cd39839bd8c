/**
 * Turning zod's issues into the {@linkcode ConfigIssue}s people read:
 * `policy.maxConcurrent: expected a positive integer, got -1`.
 * @module
 */
import { z } from "zod";
import { type ConfigIssue, formatPath } from "./error.ts";
import { suggestion } from "./suggest.ts";

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "an object",
  record: "an object",
  array: "an array",
  null: "null",
};

/** A config issue with its path still as segments, for comparing paths. */
export interface PathIssue {
  /** Path segments: keys and array indexes. */
  path: readonly PropertyKey[];
  /** What is wrong. */
  message: string;
}

/**
 * Collects zod issues of one parse: hand {@linkcode IssueCollector.errorMap}
 * to `safeParse`, then {@linkcode IssueCollector.translate} its issues.
 */
export class IssueCollector {
  // Objects that had unknown keys -> the keys their schema allows, for suggestions.
  #knownKeys = new WeakMap<object, string[]>();

  /** zod error map giving the default (non-custom) messages, and noting valid keys. */
  readonly errorMap = (issue: RawIssue): string | undefined => {
    switch (issue.code) {
      case "invalid_type":
        if (issue.input === undefined) return "is required";
        return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
      case "too_small":
      case "too_big":
        return _sizeMessage(issue);
      case "invalid_value":
        return issue.values.length === 1
          ? `expected ${_show(issue.values[0])}`
          : `expected one of ${issue.values.map(_show).join(", ")}`;
      case "unrecognized_keys":
        if (issue.inst instanceof z.ZodObject && typeof issue.input === "object" && issue.input) {
          this.#knownKeys.set(issue.input, Object.keys(issue.inst.shape));
        }
        return "unknown key";
      case "invalid_union":
        if (typeof issue.discriminator === "string" && Array.isArray(issue.options)) {
          const choices = `one of ${issue.options.map(_show).join(", ")}`;
          const value = _get(issue.input, issue.discriminator);
          return value === undefined
            ? `is required; expected ${choices}`
            : `expected ${choices}, got ${_show(value)}`;
        }
        return "does not match any of the allowed forms";
      case "invalid_key":
        return invalidKeyMessage(issue.issues);
      case "invalid_format":
        return `expected ${issue.format}`;
      default:
        return undefined;
    }
  };

  /** The issues of a failed parse, one per problem (one per unknown key), with friendly messages. */
  translate(issues: readonly Issue[]): PathIssue[] {
    const out: PathIssue[] = [];
    for (const issue of issues) {
      if (issue.code === "unrecognized_keys") {
        const known = (issue.input && this.#knownKeys.get(issue.input)) ?? [];
        for (const key of issue.keys) {
          const path = [...issue.path, key];
          const renamed = RENAMED_KEYS[path.join(".")];
          out.push({
            path,
            message: renamed ?? `unknown key${suggestion(key, known)}`,
          });
        }
        continue;
      }
      out.push({ path: issue.path, message: issue.message + _gotSuffix(issue) });
    }
    return out;
  }
}

/** The message of a record's key that failed its schema with `issues`. */
export function invalidKeyMessage(issues: readonly { message: string }[] | undefined): string {
  return `invalid key: ${issues?.[0]?.message ?? "not allowed here"}`;
}

/** Keys of earlier versions, by path: what they became and why. */
const RENAMED_KEYS: Readonly<Record<string, string>> = {
  "policy.maxConcurrent":
    'renamed to "maxUnavailable": the limit counts hosts that are down (restarting, coming back, not back, agent offline), not commands that run',
  "policy.maxConcurrentPerGroup":
    'renamed to "maxUnavailablePerGroup": the limit counts hosts of the group that are down, not commands that run; an integer or a share such as "25%"',
};

/** Converts a path-segment issue to the public form. */
export function toConfigIssue(issue: PathIssue): ConfigIssue {
  return { path: formatPath(issue.path), message: issue.message };
}

/** True when `path` is `prefix` or lies inside it. */
export function isWithin(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => segment === path[i]);
}

function _sizeMessage(issue: RawIssue & { code: "too_small" | "too_big" }): string {
  const small = issue.code === "too_small";
  const bound = Number(small ? issue.minimum : issue.maximum);
  switch (issue.origin) {
    case "array":
    case "set":
      return small
        ? `expected at least ${bound} item${bound === 1 ? "" : "s"}`
        : `expected at most ${bound} items`;
    case "string":
      if (small && bound === 1) return "expected a non-empty string";
      return `expected ${small ? "at least" : "at most"} ${bound} characters`;
    default: {
      const op = small ? (issue.inclusive ? ">=" : ">") : (issue.inclusive ? "<=" : "<");
      return `expected a number ${op} ${bound}`;
    }
  }
}

function _gotSuffix(issue: Issue): string {
  if (!("input" in issue) || issue.input === undefined) return "";
  if (issue.code === "invalid_union" || issue.code === "invalid_key") return "";
  if (issue.code === "custom" && typeof issue.input === "object" && issue.input !== null) return "";
  const got = _show(issue.input);
  // A message may name a string value itself ('unknown phase "faild"; did you mean ...').
  return typeof issue.input === "string" && issue.message.includes(got) ? "" : `, got ${got}`;
}

/** A value as a short piece of JSON for a message; a password in a URL is masked. */
function _show(value: unknown): string {
  const text = typeof value === "bigint" || typeof value === "symbol"
    ? String(value)
    : JSON.stringify(
      typeof value === "string"
        ? value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@")
        : value,
    ) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function _get(value: unknown, key: PropertyKey): unknown {
  return typeof value === "object" && value !== null
    ? (value as Record<PropertyKey, unknown>)[key]
    : undefined;
}
