import assert from "node:assert/strict";
import { delay, MAX_DELAY_MS } from "../../src/async/mod.ts";
import { flush, listenerCounter, probe, withFakeTime } from "./_helpers.ts";

Deno.test("delay() resolves after exactly ms of fake time, not before", async () => {
  await withFakeTime(async (clock) => {
    const p = probe(delay(1_000));
    await clock.tickAsync(999);
    assert.equal(p.state, "pending");
    await clock.tickAsync(1);
    assert.equal(p.state, "fulfilled");
  });
});

Deno.test("delay() rejects with the signal's reason and clears its timer", async () => {
  await withFakeTime(async (clock) => {
    const ac = new AbortController();
    const p = probe(delay(60_000, { signal: ac.signal }));
    await clock.tickAsync(10);
    assert.equal(clock.countTimers(), 1);
    const reason = new Error("shutting down");
    ac.abort(reason);
    await flush(clock);
    assert.equal(p.state, "rejected");
    assert.equal(p.error, reason);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("delay() with an already-aborted signal rejects at once without a timer", async () => {
  await withFakeTime(async (clock) => {
    const reason = new Error("already gone");
    const p = delay(1_000, { signal: AbortSignal.abort(reason) });
    assert.equal(clock.countTimers(), 0);
    await assert.rejects(p, (err) => err === reason);
  });
});

Deno.test("delay() removes its abort listener once it resolves", async () => {
  await withFakeTime(async (clock) => {
    const ac = new AbortController();
    const listeners = listenerCounter(ac.signal);
    const p = delay(100, { signal: ac.signal });
    assert.equal(listeners.active, 1);
    await clock.tickAsync(100);
    await p;
    assert.equal(listeners.active, 0);
    // Aborting later has nothing to reject: the delay already resolved.
    ac.abort();
  });
});

Deno.test("delay() resolves for 0 ms on the next timer turn", async () => {
  await withFakeTime(async (clock) => {
    const p = probe(delay(0));
    assert.equal(p.state, "pending");
    await clock.tickAsync(0);
    assert.equal(p.state, "fulfilled");
  });
});

Deno.test("delay() rejects a negative, NaN or too-large ms with a RangeError", async (t) => {
  for (const ms of [-1, NaN, MAX_DELAY_MS + 1, Infinity]) {
    await t.step(`ms = ${ms}`, async () => {
      await assert.rejects(delay(ms), RangeError);
    });
  }
});

// Real timers: the op sanitizer fails this test if the timer is not cleared.
Deno.test("delay() aborted with real timers leaves no timer for the sanitizer", async () => {
  const ac = new AbortController();
  const p = delay(60_000, { signal: ac.signal });
  ac.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
});
