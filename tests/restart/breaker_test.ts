import assert from "node:assert/strict";
import { FakeClock } from "../../src/clock.ts";
import { Breaker, type BreakerSettings } from "../../src/restart/mod.ts";

function breaker(settings: BreakerSettings, seed: { host: string; at: number }[] = []) {
  const clock = new FakeClock(10_000_000);
  const trips: string[] = [];
  const b = new Breaker({ settings: () => settings, clock, trip: (r) => trips.push(r), seed });
  return { b, clock, trips };
}

Deno.test("breaker trips once when failures within the window reach the limit, naming the hosts", () => {
  const { b, clock, trips } = breaker({ failures: 3, withinSec: 3600 });
  b.failure("web-1");
  clock.advance(1_000);
  b.failure("web-2");
  assert.deepEqual(trips, []);
  b.failure("web-3");
  assert.deepEqual(trips, ["breaker: 3 restarts failed within 3600s (web-1, web-2, web-3)"]);
  b.failure("web-4");
  assert.equal(trips.length, 1, "tripped twice without a reset");
  assert.equal(b.trips, 1);
});

Deno.test("breaker: failures older than the window do not count", () => {
  const { b, clock, trips } = breaker({ failures: 2, withinSec: 60 });
  b.failure("a");
  clock.advance(61_000);
  b.failure("b");
  assert.deepEqual(trips, []);
  b.failure("c");
  assert.equal(trips.length, 1);
});

Deno.test("breaker: a resume forgets earlier failures; seeded failures count; null turns it off", () => {
  const { b, clock, trips } = breaker({ failures: 2, withinSec: 3600 }, [
    { host: "old", at: 10_000_000 - 5_000 },
  ]);
  b.failure("a");
  assert.equal(trips.length, 1, "the seeded failure counts");
  b.reset(clock.now());
  clock.advance(1);
  b.failure("b");
  assert.equal(trips.length, 1, "failures before the resume were forgotten");
  b.failure("c");
  assert.equal(trips.length, 2);
  const off = breaker(null);
  for (let i = 0; i < 10; i++) off.b.failure(`h-${i}`);
  assert.deepEqual(off.trips, []);
});
