import assert from "node:assert/strict";
import { backoffDelay, type BackoffOptions } from "../../src/async/mod.ts";

Deno.test("backoffDelay() without jitter doubles from minDelayMs and caps at maxDelayMs", () => {
  const delays = Array.from({ length: 12 }, (_, i) => backoffDelay(i + 1, { jitter: 0 }));
  assert.deepEqual(delays, [
    100,
    200,
    400,
    800,
    1_600,
    3_200,
    6_400,
    12_800,
    25_600,
    30_000,
    30_000,
    30_000,
  ]);
});

Deno.test("backoffDelay() honours minDelayMs, maxDelayMs and multiplier", () => {
  const options = { minDelayMs: 1_000, maxDelayMs: 10_000, multiplier: 3, jitter: 0 };
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelay(n, options)), [
    1_000,
    3_000,
    9_000,
    10_000,
  ]);
});

Deno.test("backoffDelay() with full jitter waits cap * (1 - random())", () => {
  assert.equal(backoffDelay(3, { random: () => 0 }), 400);
  assert.equal(backoffDelay(3, { random: () => 0.25 }), 300);
  assert.equal(backoffDelay(3, { random: () => 0.75 }), 100);
});

Deno.test("backoffDelay() with partial jitter keeps the unjittered share of the cap", () => {
  // jitter 0.5: the delay stays within [cap / 2, cap].
  assert.equal(backoffDelay(1, { jitter: 0.5, random: () => 1 }), 50);
  assert.equal(backoffDelay(1, { jitter: 0.5, random: () => 0 }), 100);
});

Deno.test("backoffDelay() with Math.random stays within (0, cap]", () => {
  for (let attempt = 1; attempt <= 20; attempt++) {
    const cap = Math.min(30_000, 100 * 2 ** (attempt - 1));
    for (let i = 0; i < 50; i++) {
      const ms = backoffDelay(attempt);
      assert.ok(ms > 0 && ms <= cap, `attempt ${attempt}: ${ms} not in (0, ${cap}]`);
    }
  }
});

Deno.test("backoffDelay() does not overflow for huge attempt numbers", () => {
  assert.equal(backoffDelay(100_000, { jitter: 0 }), 30_000);
  assert.equal(backoffDelay(100_000, { minDelayMs: 0, jitter: 0 }), 0);
  assert.equal(backoffDelay(100_000, { minDelayMs: 0, maxDelayMs: 0 }), 0);
});

Deno.test("backoffDelay() rejects bad input with an error naming it", async (t) => {
  const cases: [string, number, BackoffOptions, RegExp][] = [
    ["attempt 0", 0, {}, /attempt/],
    ["fractional attempt", 1.5, {}, /attempt/],
    ["negative minDelayMs", 1, { minDelayMs: -1 }, /minDelayMs/],
    ["maxDelayMs below minDelayMs", 1, { minDelayMs: 500, maxDelayMs: 100 }, /maxDelayMs/],
    ["multiplier below 1", 1, { multiplier: 0.5 }, /multiplier/],
    ["jitter above 1", 1, { jitter: 1.5 }, /jitter/],
    ["random out of range", 1, { random: () => 2 }, /random/],
  ];
  for (const [label, attempt, options, message] of cases) {
    await t.step(label, () => {
      assert.throws(() => backoffDelay(attempt, options), (err: unknown) => {
        assert.ok(err instanceof RangeError);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});
