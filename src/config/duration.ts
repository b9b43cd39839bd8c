/**
 * Durations written the way operators write them: `45s`, `30m`, `4h`, `2d`, `1h30m`.
 * @module
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const DURATION_RE = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART_RE = /(\d+)(ms|s|m|h|d)/g;

/** True when `text` is a duration `parseDuration` accepts. */
export function isDuration(text: unknown): text is string {
  return typeof text === "string" && DURATION_RE.test(text);
}

/**
 * Milliseconds in a duration string: one or more `<integer><unit>` parts,
 * unit one of `ms`, `s`, `m`, `h`, `d`.
 *
 * @example
 * ```ts
 * parseDuration("4h"); // 14_400_000
 * parseDuration("1h30m"); // 5_400_000
 * ```
 * @throws {RangeError} when `text` is not a duration.
 */
export function parseDuration(text: string): number {
  if (!isDuration(text)) {
    throw new RangeError(
      `Cannot parse duration ${
        JSON.stringify(text)
      }: expected a number and a unit (ms, s, m, h, d) like "30m" or "4h"`,
    );
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART_RE)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}
