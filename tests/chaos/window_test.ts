import assert from "node:assert/strict";
import {
  describeDays,
  describeWindows,
  isWithinWindows,
  localTime,
} from "../../src/chaos/window.ts";
import type { ChaosWindow } from "../../src/chaos/window.ts";
import { utc, win } from "./_helpers.ts";

/** Asserts, for each `[utc iso, expected]`, whether chaos may act then. */
function assertTimes(
  schedule: { windows: ChaosWindow[]; excludedDates?: string[] },
  cases: [string, boolean][],
): void {
  for (const [iso, expected] of cases) {
    const check = isWithinWindows(
      { windows: schedule.windows, excludedDates: schedule.excludedDates ?? [] },
      utc(iso),
    );
    assert.equal(check.ok, expected, `${iso}Z: expected ${expected ? "inside" : "outside"}`);
  }
}

Deno.test("localTime() reads the wall clock of a time zone", () => {
  assert.deepEqual(localTime(utc("2026-01-05T08:30"), "Europe/Paris"), {
    date: "2026-01-05",
    day: "mon",
    minutes: 9 * 60 + 30,
  });
  assert.deepEqual(localTime(utc("2026-01-04T23:15"), "Asia/Tokyo"), {
    date: "2026-01-05",
    day: "mon",
    minutes: 8 * 60 + 15,
  });
  assert.deepEqual(localTime(utc("2026-01-05T03:00"), "America/New_York"), {
    date: "2026-01-04",
    day: "sun",
    minutes: 22 * 60,
  });
  // Midnight is 00:00, not 24:00.
  assert.equal(localTime(utc("2026-01-05T00:00"), "UTC").minutes, 0);
});

Deno.test("no windows: chaos may act at any time", () => {
  assertTimes({ windows: [] }, [["2026-01-03T03:00", true], ["2026-06-14T23:59", true]]);
});

Deno.test("office hours follow each window's own time zone", async (t) => {
  await t.step(
    "America/New_York (UTC-5 in January)",
    () =>
      assertTimes({ windows: [win("mon-fri", "09:00", "17:00", "America/New_York")] }, [
        ["2026-01-05T13:59", false], // Mon 08:59
        ["2026-01-05T14:00", true], // Mon 09:00: start is inclusive
        ["2026-01-05T21:59", true], // Mon 16:59
        ["2026-01-05T22:00", false], // Mon 17:00: end is exclusive
        ["2026-01-10T15:00", false], // Sat 10:00
      ]),
  );
  await t.step(
    "Asia/Tokyo (UTC+9): Monday morning there is Sunday in UTC",
    () =>
      assertTimes({ windows: [win("mon-fri", "09:00", "17:00", "Asia/Tokyo")] }, [
        ["2026-01-04T23:59", false], // Mon 08:59
        ["2026-01-05T00:00", true], // Mon 09:00
        ["2026-01-09T07:59", true], // Fri 16:59
        ["2026-01-09T08:00", false], // Fri 17:00
        ["2026-01-10T01:00", false], // Sat 10:00
      ]),
  );
  await t.step("two windows in two zones: either one allows", () =>
    assertTimes({
      windows: [
        win("mon-fri", "09:00", "17:00", "America/New_York"),
        win("mon-fri", "09:00", "17:00", "Asia/Tokyo"),
      ],
    }, [
      ["2026-01-05T14:30", true], // New York Mon 09:30, Tokyo Mon 23:30
      ["2026-01-06T01:00", true], // New York Mon 20:00, Tokyo Tue 10:00
      ["2026-01-05T10:00", false], // New York Mon 05:00, Tokyo Mon 19:00
    ]));
});

Deno.test("Europe/Berlin daylight saving changes", async (t) => {
  await t.step(
    "spring forward (2026-03-29): a 02:30 edge that never happens opens at 03:00",
    () =>
      assertTimes({ windows: [win("mon-sun", "02:30", "04:00", "Europe/Berlin")] }, [
        ["2026-03-28T01:29", false], // Sat 02:29 CET
        ["2026-03-28T01:30", true], // Sat 02:30 CET
        ["2026-03-29T00:59", false], // Sun 01:59 CET
        ["2026-03-29T01:00", true], // Sun 03:00 CEST: 02:00-02:59 was skipped
        ["2026-03-29T01:59", true], // Sun 03:59 CEST
        ["2026-03-29T02:00", false], // Sun 04:00 CEST
      ]),
  );
  await t.step(
    "spring forward: a 02:30 closing edge closes at 03:00",
    () =>
      assertTimes({ windows: [win("mon-sun", "01:00", "02:30", "Europe/Berlin")] }, [
        ["2026-03-29T00:00", true], // 01:00 CET
        ["2026-03-29T00:59", true], // 01:59 CET
        ["2026-03-29T01:00", false], // 03:00 CEST
      ]),
  );
  await t.step(
    "fall back (2026-10-25): the repeated 02:00-02:59 is judged by its wall clock",
    () =>
      assertTimes({ windows: [win("mon-sun", "02:30", "04:00", "Europe/Berlin")] }, [
        ["2026-10-25T00:29", false], // 02:29 CEST
        ["2026-10-25T00:30", true], // 02:30 CEST
        ["2026-10-25T00:59", true], // 02:59 CEST
        ["2026-10-25T01:00", false], // 02:00 CET: clocks went back
        ["2026-10-25T01:29", false], // 02:29 CET
        ["2026-10-25T01:30", true], // 02:30 CET again
        ["2026-10-25T02:59", true], // 03:59 CET
        ["2026-10-25T03:00", false], // 04:00 CET
      ]),
  );
  await t.step(
    "09:00-17:00 keeps local office hours across both changes",
    () =>
      assertTimes({ windows: [win("mon-fri", "09:00", "17:00", "Europe/Berlin")] }, [
        // Friday before spring forward: UTC+1.
        ["2026-03-27T07:30", false], // 08:30 CET
        ["2026-03-27T08:00", true], // 09:00 CET
        ["2026-03-27T15:30", true], // 16:30 CET
        ["2026-03-27T16:00", false], // 17:00 CET
        // Monday after: UTC+2, the same UTC times read differently.
        ["2026-03-30T07:00", true], // 09:00 CEST
        ["2026-03-30T07:30", true], // 09:30 CEST
        ["2026-03-30T15:00", false], // 17:00 CEST
        ["2026-03-30T15:30", false], // 17:30 CEST
        // Friday before fall back: UTC+2; Monday after: UTC+1.
        ["2026-10-23T07:00", true], // 09:00 CEST
        ["2026-10-23T15:00", false], // 17:00 CEST
        ["2026-10-26T07:00", false], // 08:00 CET
        ["2026-10-26T08:00", true], // 09:00 CET
        ["2026-10-26T15:59", true], // 16:59 CET
        ["2026-10-26T16:00", false], // 17:00 CET
      ]),
  );
});

Deno.test("a window across midnight belongs to the day it started", async (t) => {
  await t.step(
    "fri 22:00-02:00 covers Saturday 01:00, not Friday 01:00",
    () =>
      assertTimes({ windows: [win("fri", "22:00", "02:00")] }, [
        ["2026-01-09T01:00", false], // Fri 01:00: that is Thursday's window
        ["2026-01-09T21:59", false], // Fri 21:59
        ["2026-01-09T22:00", true], // Fri 22:00
        ["2026-01-10T00:00", true], // Sat 00:00
        ["2026-01-10T01:59", true], // Sat 01:59
        ["2026-01-10T02:00", false], // Sat 02:00
        ["2026-01-10T22:30", false], // Sat 22:30: Saturday is not listed
        ["2026-01-11T01:00", false], // Sun 01:00
      ]),
  );
  await t.step(
    "sun 23:00-01:00 wraps the week into Monday",
    () =>
      assertTimes({ windows: [win("sun", "23:00", "01:00", "Europe/Paris")] }, [
        ["2026-01-11T22:00", true], // Sun 23:00 CET
        ["2026-01-11T23:30", true], // Mon 00:30 CET
        ["2026-01-12T00:00", false], // Mon 01:00 CET
        ["2026-01-12T22:30", false], // Mon 23:30 CET
      ]),
  );
});

Deno.test("excluded dates are local calendar days of each window's time zone", async (t) => {
  await t.step("no windows: UTC days", () => {
    const schedule = { windows: [], excludedDates: ["2026-12-25"] };
    assert.deepEqual(isWithinWindows(schedule, utc("2026-12-24T23:59")), { ok: true });
    assert.deepEqual(isWithinWindows(schedule, utc("2026-12-25T00:00"), { group: "web" }), {
      ok: false,
      reason: "excluded date of web: 2026-12-25 (UTC)",
    });
    assert.deepEqual(isWithinWindows(schedule, utc("2026-12-26T00:00")), { ok: true });
  });
  await t.step("Asia/Tokyo: Christmas starts 9 hours before it does in UTC", () => {
    const schedule = {
      windows: [win("mon-sun", "00:00", "23:59", "Asia/Tokyo")],
      excludedDates: ["2026-12-25"],
    };
    assert.deepEqual(isWithinWindows(schedule, utc("2026-12-24T15:00")), {
      ok: false,
      reason: "excluded date: 2026-12-25 (Asia/Tokyo)",
    });
    // 23:59 as the end runs to midnight: 00:00-23:59 is the whole day.
    assert.deepEqual(isWithinWindows(schedule, utc("2026-12-24T14:59")), { ok: true });
    assert.deepEqual(isWithinWindows(schedule, utc("2026-12-25T15:00")), { ok: true });
  });
  await t.step(
    "after midnight, a window across midnight is on the new calendar day",
    () =>
      assertTimes({ windows: [win("fri", "22:00", "02:00")], excludedDates: ["2026-01-10"] }, [
        ["2026-01-09T23:00", true], // Fri: not excluded
        ["2026-01-10T01:00", false], // Sat 2026-01-10: excluded
      ]),
  );
  await t.step(
    "an excluded date in one window's zone does not close another window",
    () =>
      assertTimes({
        windows: [
          win("mon-sun", "00:00", "23:59", "Asia/Tokyo"),
          win("mon-sun", "00:00", "23:59", "America/New_York"),
        ],
        excludedDates: ["2026-12-25"],
      }, [
        ["2026-12-24T16:00", true], // Tokyo 12-25 (excluded), New York 12-24 11:00
        ["2026-12-25T12:00", false], // Tokyo 12-25 21:00, New York 12-25 07:00: both excluded
        ["2026-12-25T16:00", true], // Tokyo 12-26 01:00, New York 12-25 11:00 (excluded)
      ]),
  );
});

Deno.test("the outside-window reason names the group and its windows", () => {
  const schedule = {
    windows: [win("mon-fri", "09:00", "17:00", "Europe/Paris")],
    excludedDates: [],
  };
  assert.deepEqual(isWithinWindows(schedule, utc("2026-01-05T07:30"), { group: "web" }), {
    ok: false,
    reason: "outside the allowed time window: web mon-fri 09:00-17:00 Europe/Paris",
  });
  assert.deepEqual(isWithinWindows(schedule, utc("2026-01-05T08:30")), { ok: true });
});

Deno.test("describeWindows() and describeDays() are short and readable", () => {
  assert.equal(describeDays(["mon", "tue", "wed", "thu", "fri"]), "mon-fri");
  assert.equal(describeDays(["sun", "sat"]), "sat,sun");
  assert.equal(describeDays(["mon", "wed", "fri"]), "mon,wed,fri");
  assert.equal(describeDays(["mon", "tue", "wed", "fri", "sat"]), "mon-wed,fri,sat");
  assert.equal(describeDays(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), "mon-sun");
  assert.equal(
    describeWindows([
      win("mon-fri", "09:00", "17:00", "Europe/Paris"),
      win("sat", "22:00", "02:00"),
    ], {
      group: "web",
    }),
    "web mon-fri 09:00-17:00 Europe/Paris, sat 22:00-02:00 UTC",
  );
  assert.equal(describeWindows([]), "any time");
});
