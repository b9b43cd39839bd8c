/**
 * Small zod building blocks shared by the config schemas, each carrying the
 * friendly message a user sees when the value is wrong.
 * @module
 */
import { z } from "zod";

/** An integer of at least `min` (and at most `max`), with a message saying so. */
export function intField(min: number, max?: number): z.ZodNumber {
  const message = max !== undefined
    ? `expected an integer from ${min} to ${max}`
    : min === 1
    ? "expected a positive integer"
    : min === 0
    ? "expected a non-negative integer"
    : `expected an integer >= ${min}`;
  const base = z.int({ error: message }).min(min, { error: message });
  return max === undefined ? base : base.max(max, { error: message });
}

/** A number of seconds, more than zero (fractions allowed: `0.5`). */
export function secondsField(): z.ZodNumber {
  const message = "expected a positive number of seconds";
  return z.number({ error: message }).positive({ error: message });
}

/** A number of seconds, zero or more. */
export function secondsOrZeroField(): z.ZodNumber {
  const message = "expected a number of seconds >= 0";
  return z.number({ error: message }).min(0, { error: message });
}

/** A TCP port, 1-65535. */
export function portField(): z.ZodNumber {
  return intField(1, 65535);
}

/** A non-empty string. */
export function nonEmptyString(): z.ZodString {
  return z.string().min(1, { error: "expected a non-empty string" });
}

/** A string that may safely be one argument of a command line: non-empty, no leading `-`, no control characters. */
export function argumentString(what: string): z.ZodString {
  // deno-lint-ignore no-control-regex
  return z.string().regex(/^[^-\s\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*$/, {
    error: `expected ${what} (no spaces, not starting with "-")`,
  });
}

/** A non-empty list of non-empty strings: the argv of a command, run without a shell. */
export function argvField(): z.ZodArray<z.ZodString> {
  return z.array(nonEmptyString()).min(1, {
    error: "expected a command: a list of at least one string",
  });
}

/** A name made of letters, digits, `_`, `-` and `.` (groups, executors). */
export function nameField(what: string): z.ZodString {
  return z.string().regex(/^[A-Za-z0-9_.-]+$/, {
    error: `expected ${what}: letters, digits, "_", "-" or "."`,
  });
}

const _PERCENT_RE = /^(?:100|[1-9]?\d)%$/;

/**
 * A budget of hosts: an integer >= 1, or a percentage string such as `"25%"`
 * (of a group's hosts, rounded down, at least 1). See `budgetLimit`.
 */
export function budgetField(): z.ZodUnion<[z.ZodNumber, z.ZodString]> {
  const message = 'expected a positive integer or a percentage such as "25%"';
  return z.union([
    z.int({ error: message }).min(1, { error: message }),
    z.string().regex(_PERCENT_RE, { error: message }).refine((s) => s !== "0%", {
      error: message,
    }),
  ], { error: message });
}

/**
 * The number of hosts a {@linkcode budgetField} value allows in a group of
 * `size` hosts: the integer itself, or the percentage of `size` rounded down,
 * at least 1.
 *
 * @example
 * ```ts
 * budgetLimit("25%", 10); // 2
 * budgetLimit("10%", 3); // 1
 * budgetLimit(2, 10); // 2
 * ```
 */
export function budgetLimit(budget: number | string, size: number): number {
  if (typeof budget === "number") return budget;
  const pct = Number(budget.slice(0, -1));
  return Math.max(1, Math.floor((pct * size) / 100));
}
