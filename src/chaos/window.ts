/**
 * Chaos time windows: is a moment inside a group's allowed windows, and not on
 * one of its excluded dates? Pure functions of (schedule, time); local time is
 * read with `Intl.DateTimeFormat` in each window's IANA time zone, so windows
 * follow the wall clock across daylight saving changes.
 *
 * Rules:
 * - No windows: chaos may act at any time (excluded dates still apply, in UTC).
 * - A window covers `start` (inclusive) to `end` (exclusive), local time, on
 *   each of its `days`; an `end` of `23:59` runs to midnight, so `00:00-23:59`
 *   is the whole day (as the config schema suggests).
 * - `end` earlier than `start` runs past midnight, and the part after midnight
 *   belongs to the day the window started: `fri 22:00-02:00` covers Saturday
 *   01:00, but not Friday 01:00.
 * - Windows are sets of wall-clock times. When clocks spring forward, an edge
 *   that does not exist that day (02:30 in Europe/Berlin on the last Sunday of
 *   March) takes effect at the first time after it (03:00). When clocks fall
 *   back, the repeated hour is judged on its wall-clock time each time it runs.
 * - An excluded date is a local calendar day with no chaos at all, read in the
 *   time zone of the window being checked (UTC when there are no windows).
 *   After midnight, a window running past midnight is on the new calendar day.
 * @module
 */
import type { z } from "zod";
import { WEEK_DAYS, type windowSchema } from "../config/chaos_schema.ts";

/** One allowed time window, as in the config: days, `start`/`end` `"HH:MM"`, time zone. */
export type ChaosWindow = z.output<typeof windowSchema>;

/** A week day as written in a window. */
export type WeekDay = typeof WEEK_DAYS[number];

/** When chaos may act: a chaos group's config satisfies this. */
export interface WindowSchedule {
  /** Allowed windows; empty means at any time. */
  readonly windows: readonly ChaosWindow[];
  /** Local calendar days (`"YYYY-MM-DD"`) with no chaos at all. */
  readonly excludedDates: readonly string[];
}

/** The verdict of {@linkcode isWithinWindows}. */
export type WindowCheck = { ok: true } | { ok: false; reason: string };

/** Options of {@linkcode isWithinWindows}. */
export interface WindowCheckOptions {
  /** Group name, written in the reason. Default: none. */
  group?: string;
}

/** Local wall-clock fields of one instant in one time zone. */
export interface LocalTime {
  /** `"YYYY-MM-DD"`. */
  date: string;
  day: WeekDay;
  /** Minutes since local midnight, 0-1439. */
  minutes: number;
}

const _formatters = new Map<string, Intl.DateTimeFormat>();
const _DAY_BY_SHORT: Readonly<Record<string, WeekDay>> = {
  Mon: "mon",
  Tue: "tue",
  Wed: "wed",
  Thu: "thu",
  Fri: "fri",
  Sat: "sat",
  Sun: "sun",
};

function _formatter(timeZone: string): Intl.DateTimeFormat {
  let f = _formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      weekday: "short",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
    });
    _formatters.set(timeZone, f);
  }
  return f;
}

/**
 * The local date, week day and time of day of `at` (ms since the epoch) in
 * `timeZone` (IANA name).
 *
 * @example
 * ```ts
 * localTime(Date.UTC(2026, 0, 5, 8, 30), "Europe/Paris");
 * // { date: "2026-01-05", day: "mon", minutes: 570 }
 * ```
 * @throws {RangeError} when `timeZone` is not a known time zone.
 */
export function localTime(at: number, timeZone: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of _formatter(timeZone).formatToParts(at)) parts[p.type] = p.value;
  const day = _DAY_BY_SHORT[parts.weekday ?? ""];
  if (!day) throw new RangeError(`Cannot read the week day of ${at} in ${timeZone}`);
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    day,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

function _minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function _previousDay(day: WeekDay): WeekDay {
  return WEEK_DAYS[(WEEK_DAYS.indexOf(day) + 6) % 7]!;
}

/** True when local time `t` falls inside `window` (whose time zone `t` was read in). */
export function windowContains(window: ChaosWindow, t: LocalTime): boolean {
  const start = _minutes(window.start);
  const end = window.end === "23:59" ? 24 * 60 : _minutes(window.end);
  if (start < end) return window.days.includes(t.day) && t.minutes >= start && t.minutes < end;
  // Past midnight: the evening part on a listed day, the morning part on the day after one.
  return (window.days.includes(t.day) && t.minutes >= start) ||
    (window.days.includes(_previousDay(t.day)) && t.minutes < end);
}

/**
 * Whether chaos may act at `at` (ms since the epoch) under `schedule`: inside
 * at least one window (any time when there are none), and not on an excluded
 * date of that window's time zone. See the module doc for the exact rules.
 *
 * @example
 * ```ts
 * const schedule = {
 *   windows: [{ days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00", timeZone: "Europe/Paris" }],
 *   excludedDates: ["2026-12-25"],
 * };
 * isWithinWindows(schedule, Date.UTC(2026, 0, 5, 7, 30)); // { ok: false, reason: "outside the allowed time window: mon-fri 09:00-17:00 Europe/Paris" }
 * isWithinWindows(schedule, Date.UTC(2026, 0, 5, 8, 30)); // { ok: true }
 * ```
 */
export function isWithinWindows(
  schedule: WindowSchedule,
  at: number,
  options: WindowCheckOptions = {},
): WindowCheck {
  const { windows, excludedDates } = schedule;
  if (windows.length === 0) {
    if (excludedDates.length === 0) return { ok: true };
    const { date } = localTime(at, "UTC");
    return excludedDates.includes(date)
      ? { ok: false, reason: _excludedReason(date, "UTC", options.group) }
      : { ok: true };
  }
  let excluded: string | undefined;
  for (const window of windows) {
    const t = localTime(at, window.timeZone);
    if (!windowContains(window, t)) continue;
    if (!excludedDates.includes(t.date)) return { ok: true };
    excluded ??= _excludedReason(t.date, window.timeZone, options.group);
  }
  return {
    ok: false,
    reason: excluded ??
      `outside the allowed time window: ${describeWindows(windows, options)}`,
  };
}

function _excludedReason(date: string, timeZone: string, group: string | undefined): string {
  return `excluded date${group ? ` of ${group}` : ""}: ${date} (${timeZone})`;
}

/**
 * A short description of `windows` for logs and skip reasons, prefixed by the
 * group name when given: `web mon-fri 09:00-17:00 Europe/Paris`. Several
 * windows are joined with `, `; no windows reads `any time`.
 */
export function describeWindows(
  windows: readonly ChaosWindow[],
  options: WindowCheckOptions = {},
): string {
  const text = windows.length === 0
    ? "any time"
    : windows.map((w) => `${describeDays(w.days)} ${w.start}-${w.end} ${w.timeZone}`).join(", ");
  return options.group ? `${options.group} ${text}` : text;
}

/** Week days compactly, Monday first: runs of three or more as ranges (`mon-fri`), others listed (`sat,sun`). */
export function describeDays(days: readonly WeekDay[]): string {
  const idx = [...new Set(days.map((d) => WEEK_DAYS.indexOf(d)))].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1] === idx[j]! + 1) j++;
    const from = WEEK_DAYS[idx[i]!]!;
    const to = WEEK_DAYS[idx[j]!]!;
    if (j - i >= 2) parts.push(`${from}-${to}`);
    else for (let k = i; k <= j; k++) parts.push(WEEK_DAYS[idx[k]!]!);
    i = j + 1;
  }
  return parts.join(",");
}
