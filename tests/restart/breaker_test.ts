import assert from "node:assert/strict";
import { FakeClock } from "../../src/clock.ts";
import { Breaker, type BreakerFailure, type BreakerSettings } from "../../src/restart/mod.ts";

function breaker(settings: BreakerSettings, seed: BreakerFailure[] = []) {
  const clock = new FakeClock(10_000_000);
  const trips: string[] = [];
  const b = new Breaker({ settings: () => settings, clock, trip: (r) => trips.push(r), seed });
  return { b, clock, trips };
}

Deno.test("breaker trips once when failures within the window reach the limit, naming the hosts", () => {
  const { b, clock, trips } = breaker({ failures: 3, withinSec: 3600 });
  b.failure("web-1", "r-web-1");
  clock.advance(1_000);
  b.failure("web-2", "r-web-2");
  assert.deepEqual(trips, []);
  b.failure("web-3", "r-web-3");
  assert.deepEqual(trips, ["breaker: 3 restarts failed within 3600s (web-1, web-2, web-3)"]);
  b.failure("web-4", "r-web-4");
  assert.equal(trips.length, 1, "tripped twice without a reset");
  assert.equal(b.trips, 1);
});

Deno.test("breaker: failures older than the window do not count", () => {
  const { b, clock, trips } = breaker({ failures: 2, withinSec: 60 });
  b.failure("a", "r-a");
  clock.advance(61_000);
  b.failure("b", "r-b");
  assert.deepEqual(trips, []);
  b.failure("c", "r-c");
  assert.equal(trips.length, 1);
});

Deno.test("breaker: a resume forgets earlier failures; seeded failures count; null turns it off", () => {
  const { b, clock, trips } = breaker({ failures: 2, withinSec: 3600 }, [
    { id: "r-old", host: "old", at: 10_000_000 - 5_000 },
  ]);
  b.failure("a", "r-a");
  assert.equal(trips.length, 1, "the seeded failure counts");
  b.reset(clock.now());
  clock.advance(1);
  b.failure("b", "r-b");
  assert.equal(trips.length, 1, "failures before the resume were forgotten");
  b.failure("c", "r-c");
  assert.equal(trips.length, 2);
  const off = breaker(null);
  for (let i = 0; i < 10; i++) off.b.failure(`h-${i}`, `r-${i}`);
  assert.deepEqual(off.trips, []);
});

Deno.test("breaker: a shared history's failures count once each, with this instance's own; none from before a resume", () => {
  const { b, clock, trips } = breaker({ failures: 3, withinSec: 3600 });
  b.failure("web-1", "r-1");
  // The shared history holds this instance's failure too: it is not counted twice.
  b.observe([{ id: "r-1", host: "web-1", at: clock.now() }]);
  b.observe([{ id: "r-1", host: "web-1", at: clock.now() }]);
  assert.deepEqual(trips, []);
  b.observe([{ id: "r-2", host: "web-2", at: clock.now() }]);
  assert.deepEqual(trips, []);
  b.observe([{ id: "r-3", host: "web-3", at: clock.now() }]);
  assert.deepEqual(trips, ["breaker: 3 restarts failed within 3600s (web-1, web-2, web-3)"]);

  b.reset(clock.now());
  clock.advance(1_000);
  // Another instance's history still lists the failures before the resume: forgotten.
  b.observe([
    { id: "r-1", host: "web-1", at: clock.now() - 1_000 },
    { id: "r-4", host: "web-4", at: clock.now() - 1_000 },
    { id: "r-5", host: "web-5", at: clock.now() - 2_000 },
  ]);
  b.failure("web-6", "r-6");
  b.failure("web-7", "r-7");
  assert.equal(trips.length, 1, "failures from before the resume were counted");
  b.observe([{ id: "r-8", host: "web-8", at: clock.now() }]);
  assert.equal(trips.length, 2);
});
