import assert from "node:assert/strict";
import { backoffDelay, retry, RetryError, type RetryOptions } from "../../src/async/mod.ts";
import { collectUnhandled, flush, listenerCounter, probe, withFakeTime } from "./_helpers.ts";

const fail = (message: string) => Promise.reject(new Error(message));

Deno.test("retry() returns the first success, passing 1-based attempts and the signal", async () => {
  await withFakeTime(async (clock) => {
    const ac = new AbortController();
    const seen: [number, AbortSignal][] = [];
    const p = probe(retry((attempt, signal) => {
      seen.push([attempt, signal]);
      return attempt < 3 ? fail(`attempt ${attempt}`) : Promise.resolve("up");
    }, { signal: ac.signal }));
    await clock.runAllAsync();
    assert.equal(p.value, "up");
    assert.deepEqual(seen.map(([n]) => n), [1, 2, 3]);
    assert.ok(seen.every(([, s]) => s === ac.signal));
  });
});

Deno.test("retry() without a signal hands fn one that never aborts", async () => {
  await withFakeTime(async () => {
    let given: AbortSignal | undefined;
    await retry((_, signal) => {
      given = signal;
      return Promise.resolve();
    });
    assert.ok(given instanceof AbortSignal);
    assert.equal(given.aborted, false);
  });
});

Deno.test("retry() sleeps backoffDelay() between attempts and not a tick less", async () => {
  await withFakeTime(async (clock) => {
    const start = Date.now();
    const calls: number[] = [];
    const options = { minDelayMs: 100, multiplier: 3, random: () => 0.5 };
    const p = probe(retry(() => {
      calls.push(Date.now() - start);
      return calls.length < 3 ? fail("not yet") : Promise.resolve();
    }, options));
    await flush(clock);
    assert.deepEqual(calls, [0]);
    const first = backoffDelay(1, options); // 50
    const second = backoffDelay(2, options); // 150
    await clock.tickAsync(first - 1);
    assert.deepEqual(calls, [0]);
    await clock.tickAsync(1);
    assert.deepEqual(calls, [0, first]);
    await clock.tickAsync(second - 1);
    assert.equal(calls.length, 2);
    await clock.tickAsync(1);
    assert.deepEqual(calls, [0, first, first + second]);
    assert.equal(p.state, "fulfilled");
  });
});

Deno.test("retry() calls onRetry with the error, attempt and delay before each sleep", async () => {
  await withFakeTime(async (clock) => {
    const errors = [new Error("a"), new Error("b")];
    const hooks: [unknown, number, number, number][] = [];
    const p = retry((attempt) => {
      const err = errors[attempt - 1];
      return err ? Promise.reject(err) : Promise.resolve(attempt);
    }, {
      jitter: 0,
      onRetry: (err, attempt, delayMs) => hooks.push([err, attempt, delayMs, clock.now]),
    });
    const start = clock.now;
    await clock.runAllAsync();
    assert.equal(await p, 3);
    assert.deepEqual(hooks, [
      [errors[0], 1, 100, start],
      [errors[1], 2, 200, start + 100],
    ]);
  });
});

Deno.test("retry() throws a RetryError with the last error once attempts run out", async () => {
  await withFakeTime(async (clock) => {
    let calls = 0;
    const p = probe(retry(() => fail(`failure ${++calls}`), { attempts: 3 }));
    await clock.runAllAsync();
    assert.equal(calls, 3);
    assert.equal(p.state, "rejected");
    const err = p.error;
    assert.ok(err instanceof RetryError);
    assert.equal(err.name, "RetryError");
    assert.equal(err.attempts, 3);
    assert.ok(err.cause instanceof Error);
    assert.equal(err.cause.message, "failure 3");
    assert.match(err.message, /3 attempts: failure 3/);
  });
});

Deno.test("retry() with attempts 1 calls fn once and never sleeps", async () => {
  await withFakeTime(async (clock) => {
    let calls = 0;
    const p = probe(retry(() => fail(`call ${++calls}`), { attempts: 1 }));
    await flush(clock);
    assert.equal(clock.countTimers(), 0);
    assert.equal(calls, 1);
    assert.ok(p.error instanceof RetryError);
  });
});

Deno.test("retry() rethrows an error shouldRetry() declines, as is and at once", async () => {
  await withFakeTime(async (clock) => {
    const fatal = new TypeError("bad host name");
    const asked: [unknown, number][] = [];
    let calls = 0;
    const p = probe(retry(() => {
      calls++;
      return calls === 1 ? fail("flaky") : Promise.reject(fatal);
    }, {
      shouldRetry: (err, attempt) => {
        asked.push([err, attempt]);
        return !(err instanceof TypeError);
      },
    }));
    await clock.runAllAsync();
    assert.equal(p.error, fatal);
    assert.equal(calls, 2);
    assert.equal(asked.length, 2);
    assert.deepEqual(asked[1], [fatal, 2]);
  });
});

Deno.test("retry() aborted while sleeping rejects with the reason and clears the timer", async () => {
  await withFakeTime(async (clock) => {
    const ac = new AbortController();
    let calls = 0;
    const p = probe(retry(() => fail(`call ${++calls}`), { signal: ac.signal, jitter: 0 }));
    await clock.tickAsync(50); // asleep for the 100 ms after attempt 1
    assert.equal(clock.countTimers(), 1);
    const reason = new Error("shutdown");
    ac.abort(reason);
    await flush(clock);
    assert.equal(p.error, reason);
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(60_000);
    assert.equal(calls, 1, "no attempt after the abort");
  });
});

Deno.test("retry() aborted during a call that ignores the signal rejects at once", async () => {
  await withFakeTime(async (clock) => {
    const ac = new AbortController();
    const listeners = listenerCounter(ac.signal);
    const stubborn = Promise.withResolvers<string>();
    const unhandled = await collectUnhandled(async () => {
      const p = probe(retry(() => stubborn.promise, {
        signal: ac.signal,
        shouldRetry: () => assert.fail("an abort is not a failure to judge"),
        onRetry: () => assert.fail("no retry after an abort"),
      }));
      await flush(clock);
      const reason = new Error("shutdown");
      ac.abort(reason);
      await flush(clock);
      assert.equal(p.error, reason);
      stubborn.reject(new Error("finished failing after the abort"));
      await flush(clock);
    });
    assert.deepEqual(unhandled, [], "the late failure must be observed");
    assert.equal(listeners.active, 0, "the abort listener is removed once fn settles");
  });
});

Deno.test("retry() with an already-aborted signal rejects without calling fn", async () => {
  await withFakeTime(async () => {
    const reason = new Error("already gone");
    let calls = 0;
    await assert.rejects(
      retry(() => Promise.resolve(++calls), { signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
    assert.equal(calls, 0);
  });
});

Deno.test("retry() removes its abort listener from the caller's signal when it succeeds", async () => {
  await withFakeTime(async (clock) => {
    const ac = new AbortController();
    const listeners = listenerCounter(ac.signal);
    let calls = 0;
    const p = retry(() => (++calls < 3 ? fail("again") : Promise.resolve()), {
      signal: ac.signal,
    });
    await clock.runAllAsync();
    await p;
    assert.equal(listeners.active, 0);
  });
});

Deno.test("retry() counts a synchronous throw from fn as a failed attempt", async () => {
  await withFakeTime(async (clock) => {
    let calls = 0;
    const p = retry(() => {
      if (++calls === 1) throw new Error("sync");
      return Promise.resolve(calls);
    });
    await clock.runAllAsync();
    assert.equal(await p, 2);
  });
});

Deno.test("retry() with attempts Infinity keeps going until fn succeeds", async () => {
  await withFakeTime(async (clock) => {
    let calls = 0;
    const p = retry(() => (++calls < 50 ? fail("down") : Promise.resolve(calls)), {
      attempts: Infinity,
      maxDelayMs: 1_000,
    });
    await clock.runAllAsync();
    assert.equal(await p, 50);
  });
});

Deno.test("retry() rejects invalid options before calling fn", async (t) => {
  const cases: [string, RetryOptions][] = [
    ["attempts 0", { attempts: 0 }],
    ["attempts 2.5", { attempts: 2.5 }],
    ["attempts NaN", { attempts: NaN }],
    ["jitter -0.1", { jitter: -0.1 }],
    ["maxDelayMs below minDelayMs", { maxDelayMs: 10, minDelayMs: 20 }],
  ];
  for (const [label, options] of cases) {
    await t.step(label, async () => {
      let calls = 0;
      await assert.rejects(retry(() => Promise.resolve(++calls), options), RangeError);
      assert.equal(calls, 0);
    });
  }
});
