/**
 * The `chaos` section: scheduled random restarts, per group, inside time windows.
 * @module
 */
import { z } from "zod";
import { isDuration, parseDuration } from "./duration.ts";
import { secondsField } from "./fields.ts";

/** Week days as written in a window, Monday first. */
export const WEEK_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

const TIME_RE = /^(?:[01]\d|2[0-3]):[0-5]\d$/;
const GLOB_RE = /^[A-Za-z0-9.*?-]+$/;

function _isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function _isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(text);
}

function _durationField() {
  return z.string().refine((text) => isDuration(text) && parseDuration(text) > 0, {
    error: 'expected a duration such as "45s", "30m", "4h", "2d" or "1h30m"',
  });
}

const timeField = z.string().regex(TIME_RE, { error: 'expected a time "HH:MM" (00:00-23:59)' });

/** One allowed time window: on these days, from `start` to `end`, in `timeZone`. */
export const windowSchema = z.strictObject({
  days: z.array(z.enum(WEEK_DAYS)).min(1, { error: "expected at least one day" })
    .default(() => [...WEEK_DAYS]).describe("Days the window opens on (the day `start` falls on)."),
  start: timeField.describe('Opening time, "HH:MM".'),
  end: timeField.describe(
    'Closing time, "HH:MM"; earlier than start means the window runs past midnight.',
  ),
  timeZone: z.string().refine(_isTimeZone, {
    error: 'expected an IANA time zone such as "Europe/Paris"',
  })
    .default("UTC").describe("IANA time zone of start and end."),
}).refine((window) => window.start !== window.end, {
  error: 'expected end to differ from start (use "00:00" to "23:59" for a whole day)',
  path: ["end"],
}).describe("A time window in which chaos may restart hosts.");

/** Chaos settings of one group of hosts (the `group` of their host entries). */
export const chaosGroupSchema = z.strictObject({
  meanTimeBetweenRestarts: _durationField().describe(
    'Average time between two chaos restarts in this group, e.g. "4h".',
  ),
  minTimeBetweenRestarts: _durationField().default("1h").describe(
    "Never two chaos restarts in this group closer together than this.",
  ),
  exclude: z.array(
    z.string().regex(GLOB_RE, {
      error: 'expected a host name pattern (letters, digits, ".", "-", "*", "?")',
    }),
  ).default(() => []).describe('Host name patterns never picked, with * and ?, e.g. "db-*".'),
  windows: z.array(windowSchema).default(() => []).describe(
    "When chaos may act; empty means at any time.",
  ),
  excludedDates: z.array(
    z.string().refine(_isCalendarDate, { error: 'expected a date "YYYY-MM-DD"' }),
  ).default(() => []).describe('Days with no chaos at all (holidays, freezes), "YYYY-MM-DD".'),
}).describe("Chaos schedule of one group.");

/** The `chaos` section. */
export const chaosSchema = z.strictObject({
  enabled: z.boolean().default(false).describe("Run scheduled random restarts."),
  leashed: z.boolean().default(true).describe(
    "Leashed: decide and log chaos restarts, but do not perform them.",
  ),
  tickSec: secondsField().default(10).describe("How often the chaos scheduler wakes up."),
  groups: z.record(z.string().min(1), chaosGroupSchema).default(() => ({})).describe(
    "Group name -> chaos schedule. Only hosts in a listed group are ever picked.",
  ),
}).prefault({}).describe("Chaos Monkey-style scheduled restarts.");
