// The helpers must be able to fail, or the tests built on them prove nothing.
import assert from "node:assert/strict";
import { collectUnhandled, flush, listenerCounter, probe, withFakeTime } from "./_helpers.ts";

Deno.test("withFakeTime() fails a test that leaves a timer pending", async () => {
  await assert.rejects(
    withFakeTime(() => {
      setTimeout(() => {}, 1_000);
      return Promise.resolve();
    }),
    /a timer was left pending/,
  );
});

Deno.test("collectUnhandled() reports a floating rejection", async () => {
  const floating = new Error("floating");
  const reasons = await collectUnhandled(() => {
    Promise.reject(floating);
    return Promise.resolve();
  });
  assert.deepEqual(reasons, [floating]);
});

Deno.test("probe() reads a promise's state once microtasks ran", async () => {
  await withFakeTime(async (clock) => {
    const { promise, resolve } = Promise.withResolvers<number>();
    const p = probe(promise);
    assert.equal(p.state, "pending");
    resolve(7);
    await flush(clock);
    assert.equal(p.state, "fulfilled");
    assert.equal(p.value, 7);
  });
});

Deno.test("listenerCounter() tracks added and removed abort listeners", () => {
  const ac = new AbortController();
  const counter = listenerCounter(ac.signal);
  const listener = () => {};
  ac.signal.addEventListener("abort", listener);
  assert.equal(counter.active, 1);
  ac.signal.removeEventListener("abort", listener);
  assert.equal(counter.active, 0);
});
