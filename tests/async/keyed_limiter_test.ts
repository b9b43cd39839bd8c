import assert from "node:assert/strict";
import { delay, KeyedLimiter, type Lease, TaskGroup } from "../../src/async/mod.ts";
import { flush, listenerCounter, probe, withFakeTime } from "./_helpers.ts";

Deno.test("keyedLimiter.acquire() grants a free key at once", async () => {
  const limiter = new KeyedLimiter({ limit: 2 });
  const lease = await limiter.acquire("web-1");
  assert.equal(lease.key, "web-1");
  assert.equal(limiter.held, 1);
  assert.equal(limiter.isHeld("web-1"), true);
  assert.equal(limiter.isHeld("web-2"), false);
  lease.release();
  assert.equal(limiter.held, 0);
  assert.equal(limiter.isHeld("web-1"), false);
});

Deno.test("keyedLimiter never hands one key to two holders", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 10 });
    const first = await limiter.acquire("web-1");
    const second = probe(limiter.acquire("web-1"));
    await flush(clock);
    assert.equal(second.state, "pending");
    assert.equal(limiter.waiting, 1);
    assert.equal(limiter.held, 1);
    first.release();
    await flush(clock);
    assert.equal(second.state, "fulfilled");
    assert.equal(limiter.isHeld("web-1"), true);
    assert.equal(limiter.waiting, 0);
    second.value!.release();
  });
});

Deno.test("keyedLimiter holds at most limit leases and serves waiters first come first served", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 2 });
    const a = await limiter.acquire("a");
    const b = await limiter.acquire("b");
    const order: string[] = [];
    const waiters = ["c", "d", "e"].map((key) =>
      limiter.acquire(key).then((lease) => {
        order.push(key);
        return lease;
      })
    );
    await flush(clock);
    assert.equal(limiter.held, 2);
    assert.equal(limiter.waiting, 3);
    a.release();
    await flush(clock);
    assert.deepEqual(order, ["c"]);
    b.release();
    await flush(clock);
    assert.deepEqual(order, ["c", "d"]);
    assert.equal(limiter.held, 2);
    (await waiters[0]!).release();
    await flush(clock);
    assert.deepEqual(order, ["c", "d", "e"]);
    for (const w of waiters.slice(1)) (await w).release();
    assert.equal(limiter.held, 0);
  });
});

Deno.test("keyedLimiter serves in order among eligible waiters: a busy key does not block a free one", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 2 });
    const web1 = await limiter.acquire("web-1");
    const other = await limiter.acquire("db-1");
    const blocked = probe(limiter.acquire("web-1")); // waits for its own key
    const later = probe(limiter.acquire("web-2")); // waits for the global limit
    other.release(); // one slot frees: web-1 is still held, so web-2 gets it
    await flush(clock);
    assert.equal(blocked.state, "pending");
    assert.equal(later.state, "fulfilled");
    web1.release();
    await flush(clock);
    assert.equal(blocked.state, "fulfilled");
    blocked.value!.release();
    later.value!.release();
  });
});

Deno.test("keyedLimiter never lets a later waiter overtake an eligible earlier one", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 1 });
    const holder = await limiter.acquire("x");
    const early = probe(limiter.acquire("y"));
    const late = probe(limiter.acquire("z"));
    holder.release();
    await flush(clock);
    assert.equal(early.state, "fulfilled");
    assert.equal(late.state, "pending");
    // A newcomer cannot jump the queue while a slot is taken.
    assert.equal(limiter.tryAcquire("w"), undefined);
    early.value!.release();
    await flush(clock);
    assert.equal(late.state, "fulfilled");
    late.value!.release();
  });
});

Deno.test("keyedLimiter caps leases per group while other groups proceed", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 10 });
    const rack = { groupKey: "rack-1", groupLimit: 2 };
    const r1a = await limiter.acquire("r1-a", rack);
    await limiter.acquire("r1-b", rack);
    const r1c = probe(limiter.acquire("r1-c", rack));
    const r2a = probe(limiter.acquire("r2-a", { groupKey: "rack-2", groupLimit: 2 }));
    await flush(clock);
    assert.equal(r1c.state, "pending");
    assert.equal(r2a.state, "fulfilled");
    assert.equal(limiter.tryAcquire("r1-d", rack), undefined);
    r1a.release();
    await flush(clock);
    assert.equal(r1c.state, "fulfilled");
    assert.equal(limiter.held, 3);
  });
});

Deno.test("keyedLimiter: a waiter aborted while waiting rejects with the reason and leaves the queue", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 1 });
    const holder = await limiter.acquire("a");
    const ac = new AbortController();
    const aborted = probe(limiter.acquire("b", { signal: ac.signal }));
    const next = probe(limiter.acquire("c"));
    assert.equal(limiter.waiting, 2);
    const reason = new Error("restart cancelled");
    ac.abort(reason);
    await flush(clock);
    assert.equal(aborted.state, "rejected");
    assert.equal(aborted.error, reason);
    assert.equal(limiter.waiting, 1);
    holder.release();
    await flush(clock);
    assert.equal(limiter.isHeld("b"), false, "the aborted waiter got nothing");
    assert.equal(next.state, "fulfilled");
    next.value!.release();
    assert.equal(limiter.held, 0);
  });
});

Deno.test("keyedLimiter.acquire() removes its abort listener once granted", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 1 });
    const holder = await limiter.acquire("a");
    const ac = new AbortController();
    const listeners = listenerCounter(ac.signal);
    const waiter = probe(limiter.acquire("b", { signal: ac.signal }));
    assert.equal(listeners.active, 1);
    holder.release();
    await flush(clock);
    assert.equal(waiter.state, "fulfilled");
    assert.equal(listeners.active, 0);
    ac.abort(); // too late to matter: the lease stays held
    assert.equal(limiter.isHeld("b"), true);
    waiter.value!.release();
  });
});

Deno.test("keyedLimiter.acquire() with an already-aborted signal rejects even when free", async () => {
  const limiter = new KeyedLimiter({ limit: 1 });
  const reason = new Error("already gone");
  await assert.rejects(
    limiter.acquire("a", { signal: AbortSignal.abort(reason) }),
    (err) => err === reason,
  );
  assert.equal(limiter.held, 0);
  assert.equal(limiter.waiting, 0);
});

Deno.test("lease.release() is idempotent and never frees someone else's slot", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 1 });
    const first = await limiter.acquire("web-1");
    const second = probe(limiter.acquire("web-1"));
    const third = probe(limiter.acquire("web-2"));
    first.release();
    first.release();
    first[Symbol.dispose]();
    await flush(clock);
    assert.equal(second.state, "fulfilled");
    assert.equal(third.state, "pending", "a double release must not free a second slot");
    assert.equal(limiter.held, 1);
    second.value!.release();
    await flush(clock);
    assert.equal(third.state, "fulfilled");
    third.value!.release();
  });
});

Deno.test("keyedLimiter leases release themselves at the end of a using block", async () => {
  const limiter = new KeyedLimiter({ limit: 1 });
  {
    using lease = await limiter.acquire("web-1", { groupKey: "rack", groupLimit: 1 });
    assert.equal(limiter.isHeld(lease.key), true);
  }
  assert.equal(limiter.held, 0);
  assert.ok(limiter.tryAcquire("web-2", { groupKey: "rack", groupLimit: 1 }));
});

Deno.test("keyedLimiter.tryAcquire() takes a free slot or returns undefined", () => {
  const limiter = new KeyedLimiter({ limit: 2 });
  const a = limiter.tryAcquire("a");
  assert.ok(a);
  assert.equal(limiter.tryAcquire("a"), undefined, "key busy");
  assert.ok(limiter.tryAcquire("b"));
  assert.equal(limiter.tryAcquire("c"), undefined, "limit reached");
  assert.equal(limiter.held, 2);
  assert.equal(limiter.waiting, 0);
});

Deno.test("keyedLimiter.setLimit() raised serves waiters at once; lowered revokes nothing", async () => {
  await withFakeTime(async (clock) => {
    const limiter = new KeyedLimiter({ limit: 1 });
    const leases: Lease[] = [await limiter.acquire("a")];
    const b = probe(limiter.acquire("b"));
    const c = probe(limiter.acquire("c"));
    limiter.setLimit(3);
    assert.equal(limiter.limit, 3);
    await flush(clock);
    assert.equal(b.state, "fulfilled");
    assert.equal(c.state, "fulfilled");
    leases.push(b.value!, c.value!);
    limiter.setLimit(1);
    assert.equal(limiter.held, 3, "held leases are not revoked");
    const d = probe(limiter.acquire("d"));
    leases[0]!.release();
    leases[1]!.release();
    await flush(clock);
    assert.equal(d.state, "pending", "still 1 held, limit 1");
    leases[2]!.release();
    await flush(clock);
    assert.equal(d.state, "fulfilled");
    d.value!.release();
  });
});

Deno.test("keyedLimiter rejects bad input", async (t) => {
  await t.step("limit 0 is a RangeError", () => {
    assert.throws(() => new KeyedLimiter({ limit: 0 }), RangeError);
  });
  await t.step("a fractional limit is a RangeError", () => {
    assert.throws(() => new KeyedLimiter({ limit: 1.5 }), RangeError);
  });
  await t.step("setLimit(-1) is a RangeError and keeps the old limit", () => {
    const limiter = new KeyedLimiter({ limit: 2 });
    assert.throws(() => limiter.setLimit(-1), RangeError);
    assert.equal(limiter.limit, 2);
  });
  await t.step("groupLimit without groupKey is a TypeError", async () => {
    const limiter = new KeyedLimiter({ limit: 2 });
    await assert.rejects(limiter.acquire("a", { groupLimit: 1 }), TypeError);
    assert.throws(() => limiter.tryAcquire("a", { groupLimit: 1 }), TypeError);
    assert.equal(limiter.held, 0);
  });
  await t.step("groupLimit 0 is a RangeError", async () => {
    const limiter = new KeyedLimiter({ limit: 2 });
    await assert.rejects(limiter.acquire("a", { groupKey: "g", groupLimit: 0 }), RangeError);
  });
});

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("keyedLimiter keeps every limit through a simulated fleet restart", async () => {
  await withFakeTime(async (clock) => {
    const random = seeded(42);
    const limiter = new KeyedLimiter({ limit: 4 });
    const groupLimit = 2;
    let maxHeld = 0;
    const holding = new Set<string>();
    const perRack = new Map<string, number>();
    const done: string[] = [];
    // 3 restarts per host, 12 hosts on 3 racks: lots of contention on keys and racks.
    const jobs = Array.from({ length: 36 }, (_, i) => ({
      host: `web-${i % 12}`,
      rack: `rack-${i % 3}`,
      ms: 1 + Math.floor(random() * 500),
    }));
    await using group = new TaskGroup();
    for (const job of jobs) {
      group.spawn(async (signal) => {
        using _lease = await limiter.acquire(job.host, {
          groupKey: job.rack,
          groupLimit,
          signal,
        });
        assert.equal(holding.has(job.host), false, `${job.host} held twice`);
        holding.add(job.host);
        const inRack = (perRack.get(job.rack) ?? 0) + 1;
        assert.ok(inRack <= groupLimit, `${job.rack} over its limit`);
        perRack.set(job.rack, inRack);
        maxHeld = Math.max(maxHeld, holding.size);
        await delay(job.ms, { signal });
        holding.delete(job.host);
        perRack.set(job.rack, perRack.get(job.rack)! - 1);
        done.push(job.host);
      });
    }
    await clock.runAllAsync();
    await group.wait();
    assert.equal(done.length, jobs.length);
    assert.ok(maxHeld <= 4, `held ${maxHeld} > limit 4`);
    assert.equal(maxHeld, 4, "the limit was actually reached");
    assert.equal(limiter.held, 0);
    assert.equal(limiter.waiting, 0);
  });
});
