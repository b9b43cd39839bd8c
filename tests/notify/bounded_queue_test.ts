import assert from "node:assert/strict";
import { BoundedQueue } from "../../src/notify/bounded_queue.ts";

Deno.test("BoundedQueue keeps order across wrap-around and refuses a push when full", () => {
  const q = new BoundedQueue<number>(3);
  assert.equal(q.shift(), undefined);
  for (let round = 0; round < 5; round++) {
    assert.ok(q.push(round * 10));
    assert.ok(q.push(round * 10 + 1));
    assert.ok(q.push(round * 10 + 2));
    assert.equal(q.push(99), false, "a full queue takes nothing");
    assert.equal(q.size, 3);
    assert.equal(q.shift(), round * 10);
    assert.ok(q.push(round * 10 + 3));
    assert.deepEqual([q.shift(), q.shift(), q.shift()], [1, 2, 3].map((i) => round * 10 + i));
    assert.equal(q.size, 0);
  }
});

Deno.test("BoundedQueue.clear() empties it and says how many it held", () => {
  const q = new BoundedQueue<string>(4);
  q.push("a");
  q.push("b");
  assert.equal(q.clear(), 2);
  assert.equal(q.size, 0);
  assert.equal(q.shift(), undefined);
  assert.ok(q.push("c"));
  assert.equal(q.shift(), "c");
});

Deno.test("BoundedQueue rejects a capacity that is not a positive integer", () => {
  for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => new BoundedQueue(bad), RangeError);
});
