import assert from "node:assert/strict";
import { isDuration, parseConfig, parseDuration } from "../../src/config/mod.ts";
import { assertIssues } from "./_assert.ts";

Deno.test("parseDuration() reads each unit", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("45s"), 45_000);
  assert.equal(parseDuration("30m"), 1_800_000);
  assert.equal(parseDuration("4h"), 14_400_000);
  assert.equal(parseDuration("2d"), 172_800_000);
});

Deno.test("parseDuration() adds up compound durations", () => {
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1d2h3m4s5ms"), 93_784_005);
});

Deno.test("parseDuration() throws a RangeError for anything else", async (t) => {
  for (const text of ["", "4", "h", "4 h", "-4h", "1.5h", "4H", "4w", "4hours", "h4"]) {
    await t.step(JSON.stringify(text), () => {
      assert.equal(isDuration(text), false);
      assert.throws(() => parseDuration(text), RangeError);
    });
  }
});

Deno.test("chaos durations are validated and must be more than zero", async (t) => {
  const group = (meanTimeBetweenRestarts: unknown) => ({
    chaos: { groups: { web: { meanTimeBetweenRestarts } } },
  });
  await t.step("valid, with the default minimum", () => {
    const web = parseConfig(group("4h")).chaos.groups.web!;
    assert.equal(web.meanTimeBetweenRestarts, "4h");
    assert.equal(web.minTimeBetweenRestarts, "1h");
    assert.equal(parseDuration(web.meanTimeBetweenRestarts), 4 * 3_600_000);
  });
  const message = 'expected a duration such as "45s", "30m", "4h", "2d" or "1h30m"';
  for (const bad of ["4 hours", "0s"]) {
    await t.step(bad, () =>
      assertIssues(() => parseConfig(group(bad)), [
        { path: "chaos.groups.web.meanTimeBetweenRestarts", message: `${message}, got "${bad}"` },
      ]));
  }
  await t.step(
    "required",
    () =>
      assertIssues(() => parseConfig({ chaos: { groups: { web: {} } } }), [
        { path: "chaos.groups.web.meanTimeBetweenRestarts", message: "is required" },
      ]),
  );
});
