import assert from "node:assert/strict";
import { deadline, DeadlineError, delay } from "../../src/async/mod.ts";
import { collectUnhandled, flush, listenerCounter, probe, withFakeTime } from "./_helpers.ts";

Deno.test("deadline() resolves with the promise's value and clears its timer", async () => {
  await withFakeTime(async (clock) => {
    const ac = new AbortController();
    const listeners = listenerCounter(ac.signal);
    const p = probe(deadline(delay(100).then(() => "done"), 1_000, { signal: ac.signal }));
    await clock.tickAsync(100);
    assert.equal(p.state, "fulfilled");
    assert.equal(p.value, "done");
    assert.equal(clock.countTimers(), 0, "the 1000 ms deadline timer must be gone");
    assert.equal(listeners.active, 0);
  });
});

Deno.test("deadline() rejects with the promise's error and clears its timer", async () => {
  await withFakeTime(async (clock) => {
    const boom = new Error("ssh exited with 255");
    const p = probe(deadline(delay(100).then(() => Promise.reject(boom)), 1_000));
    await clock.tickAsync(100);
    assert.equal(p.state, "rejected");
    assert.equal(p.error, boom);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("deadline() rejects with a DeadlineError after ms, not before", async () => {
  await withFakeTime(async (clock) => {
    const never = new Promise<never>(() => {});
    const p = probe(deadline(never, 5_000));
    await clock.tickAsync(4_999);
    assert.equal(p.state, "pending");
    await clock.tickAsync(1);
    assert.equal(p.state, "rejected");
    assert.ok(p.error instanceof DeadlineError);
    assert.ok(p.error instanceof Error);
    assert.equal(p.error.name, "DeadlineError");
    assert.equal(p.error.ms, 5_000);
    assert.match(p.error.message, /5000 ms/);
  });
});

Deno.test("deadline() observes a rejection that arrives after the deadline", async () => {
  await withFakeTime(async (clock) => {
    const late = new Error("too late");
    const unhandled = await collectUnhandled(async () => {
      const p = probe(deadline(delay(2_000).then(() => Promise.reject(late)), 1_000));
      await clock.tickAsync(2_000);
      assert.ok(p.error instanceof DeadlineError);
    });
    assert.deepEqual(unhandled, []);
  });
});

Deno.test("deadline() rejects with the signal's reason and clears its timer", async () => {
  await withFakeTime(async (clock) => {
    const ac = new AbortController();
    const p = probe(deadline(new Promise<never>(() => {}), 1_000, { signal: ac.signal }));
    await clock.tickAsync(500);
    const reason = new Error("operator cancelled");
    ac.abort(reason);
    await flush(clock);
    assert.equal(p.state, "rejected");
    assert.equal(p.error, reason);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("deadline() with an already-aborted signal rejects at once and observes the promise", async () => {
  await withFakeTime(async (clock) => {
    const reason = new Error("already gone");
    const unhandled = await collectUnhandled(async () => {
      const p = deadline(Promise.reject(new Error("ignored")), 1_000, {
        signal: AbortSignal.abort(reason),
      });
      assert.equal(clock.countTimers(), 0);
      await assert.rejects(p, (err) => err === reason);
      await flush(clock);
    });
    assert.deepEqual(unhandled, []);
  });
});

Deno.test("deadline() settles with an already-settled promise without waiting for a 0 ms timer", async () => {
  await withFakeTime(async () => {
    assert.equal(await deadline(Promise.resolve(42), 0), 42);
  });
});

Deno.test("deadline() rejects an invalid ms with a RangeError", async (t) => {
  for (const ms of [-5, NaN, Infinity]) {
    await t.step(`ms = ${ms}`, async () => {
      await assert.rejects(deadline(Promise.resolve(1), ms), RangeError);
    });
  }
});

// Real timers: the op sanitizer fails this test if the deadline timer leaks.
Deno.test("deadline() with real timers leaves no timer once the promise wins", async () => {
  assert.equal(await deadline(Promise.resolve("fast"), 60_000), "fast");
});
