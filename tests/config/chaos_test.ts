import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { assertIssues } from "./_assert.ts";

const withWindow = (window: unknown, extra: Record<string, unknown> = {}) => ({
  chaos: { groups: { web: { meanTimeBetweenRestarts: "4h", windows: [window], ...extra } } },
});
const path = "chaos.groups.web.windows[0]";

Deno.test("chaos is off and leashed by default", () => {
  const { chaos } = parseConfig({});
  assert.deepEqual(chaos, { enabled: false, leashed: true, tickSec: 10, groups: {} });
});

Deno.test("a chaos group gets its defaults", () => {
  const config = parseConfig({ chaos: { groups: { web: { meanTimeBetweenRestarts: "2d" } } } });
  assert.deepEqual(config.chaos.groups.web, {
    meanTimeBetweenRestarts: "2d",
    minTimeBetweenRestarts: "1h",
    exclude: [],
    windows: [],
    excludedDates: [],
  });
});

Deno.test("a time window defaults to every day, UTC", () => {
  const config = parseConfig(withWindow({ start: "22:00", end: "02:00" }));
  assert.deepEqual(config.chaos.groups.web!.windows, [
    {
      days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
      start: "22:00",
      end: "02:00",
      timeZone: "UTC",
    },
  ]);
});

Deno.test("time windows are validated", async (t) => {
  await t.step(
    "time of day",
    () =>
      assertIssues(() => parseConfig(withWindow({ start: "9:00", end: "24:00" })), [
        { path: `${path}.start`, message: 'expected a time "HH:MM" (00:00-23:59), got "9:00"' },
        { path: `${path}.end`, message: 'expected a time "HH:MM" (00:00-23:59), got "24:00"' },
      ]),
  );
  await t.step(
    "day names",
    () =>
      assertIssues(
        () => parseConfig(withWindow({ start: "09:00", end: "17:00", days: ["monday"] })),
        [
          {
            path: `${path}.days[0]`,
            message:
              'expected one of "mon", "tue", "wed", "thu", "fri", "sat", "sun", got "monday"',
          },
        ],
      ),
  );
  await t.step(
    "no days",
    () =>
      assertIssues(() => parseConfig(withWindow({ start: "09:00", end: "17:00", days: [] })), [
        { path: `${path}.days`, message: "expected at least one day, got []" },
      ]),
  );
  await t.step("time zone", () =>
    assertIssues(
      () => parseConfig(withWindow({ start: "09:00", end: "17:00", timeZone: "Europe/Pariss" })),
      [{
        path: `${path}.timeZone`,
        message: 'expected an IANA time zone such as "Europe/Paris", got "Europe/Pariss"',
      }],
    ));
  await t.step("a real time zone passes", () => {
    const config = parseConfig(
      withWindow({ start: "09:00", end: "17:00", timeZone: "America/New_York" }),
    );
    assert.equal(config.chaos.groups.web!.windows[0]!.timeZone, "America/New_York");
  });
  await t.step(
    "empty window",
    () =>
      assertIssues(() => parseConfig(withWindow({ start: "09:00", end: "09:00" })), [
        {
          path: `${path}.end`,
          message: 'expected end to differ from start (use "00:00" to "23:59" for a whole day)',
        },
      ]),
  );
});

Deno.test("excluded dates must be real calendar dates", () => {
  assertIssues(
    () =>
      parseConfig(
        withWindow({ start: "09:00", end: "17:00" }, {
          excludedDates: ["2026-02-29", "2026-12-25", "12/25"],
        }),
      ),
    [
      {
        path: "chaos.groups.web.excludedDates[0]",
        message: 'expected a date "YYYY-MM-DD", got "2026-02-29"',
      },
      {
        path: "chaos.groups.web.excludedDates[2]",
        message: 'expected a date "YYYY-MM-DD", got "12/25"',
      },
    ],
  );
});

Deno.test("exclude patterns are host names with * and ?", () => {
  assert.deepEqual(
    parseConfig({
      chaos: { groups: { web: { meanTimeBetweenRestarts: "1h", exclude: ["web-1*", "db-?"] } } },
    })
      .chaos.groups.web!.exclude,
    ["web-1*", "db-?"],
  );
  assertIssues(
    () =>
      parseConfig({
        chaos: { groups: { web: { meanTimeBetweenRestarts: "1h", exclude: ["web [12]"] } } },
      }),
    [{
      path: "chaos.groups.web.exclude[0]",
      message: 'expected a host name pattern (letters, digits, ".", "-", "*", "?"), got "web [12]"',
    }],
  );
});

Deno.test("a chaos group that no host belongs to is reported, with the closest group", () => {
  assertIssues(
    () =>
      parseConfig({
        executors: { ssh: { type: "ssh" } },
        hosts: {
          "web-1": { executor: "ssh", group: "web" },
          "db-1": { executor: "ssh", group: "db" },
        },
        chaos: {
          groups: { wbe: { meanTimeBetweenRestarts: "4h" }, db: { meanTimeBetweenRestarts: "1d" } },
        },
      }),
    [{ path: "chaos.groups.wbe", message: 'no host is in group "wbe"; did you mean "web"?' }],
  );
});
