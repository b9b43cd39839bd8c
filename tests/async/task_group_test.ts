import assert from "node:assert/strict";
import { delay, TaskGroup } from "../../src/async/mod.ts";
import { collectUnhandled, flush, probe, withFakeTime } from "./_helpers.ts";

/** A task that works for `ms` (honouring the signal), then records `label` in `log`. */
function work(log: string[], label: string, ms: number) {
  return async (signal: AbortSignal) => {
    await delay(ms, { signal });
    log.push(label);
    return label;
  };
}

/** A task that fails with `error` after `ms`. */
function failAfter(ms: number, error: unknown) {
  return async (signal: AbortSignal) => {
    await delay(ms, { signal });
    throw error;
  };
}

Deno.test("taskGroup.wait() resolves only once every task has finished", async () => {
  await withFakeTime(async (clock) => {
    const log: string[] = [];
    const group = new TaskGroup();
    group.spawn(work(log, "a", 100));
    group.spawn(work(log, "b", 300));
    assert.equal(group.size, 2);
    const waited = probe(group.wait());
    await clock.tickAsync(100);
    assert.deepEqual(log, ["a"]);
    assert.equal(group.size, 1);
    assert.equal(waited.state, "pending");
    await clock.tickAsync(200);
    assert.deepEqual(log, ["a", "b"]);
    assert.equal(waited.state, "fulfilled");
    assert.equal(group.size, 0);
  });
});

Deno.test("taskGroup.wait() also waits for tasks spawned while it waits", async () => {
  await withFakeTime(async (clock) => {
    const log: string[] = [];
    const group = new TaskGroup();
    group.spawn(async (signal) => {
      await delay(100, { signal });
      group.spawn(work(log, "child", 1_000));
      log.push("parent");
    });
    const waited = probe(group.wait());
    await clock.tickAsync(100);
    assert.deepEqual(log, ["parent"]);
    assert.equal(group.size, 1);
    await clock.tickAsync(999);
    assert.equal(waited.state, "pending");
    await clock.tickAsync(1);
    assert.deepEqual(log, ["parent", "child"]);
    assert.equal(waited.state, "fulfilled");
  });
});

Deno.test("taskGroup: a failing task aborts its siblings and only its error is reported", async () => {
  await withFakeTime(async (clock) => {
    const log: string[] = [];
    const boom = new Error("ssh exited with 255");
    const group = new TaskGroup({ name: "wave 1" });
    group.spawn(work(log, "slow", 10_000), { name: "web-1" });
    group.spawn(failAfter(100, boom), { name: "web-2" });
    const waited = probe(group.wait());
    await clock.tickAsync(100);
    assert.ok(group.signal.aborted);
    assert.equal(group.signal.reason, boom);
    await flush(clock);
    assert.equal(waited.state, "rejected", "the sibling stopped at once, so wait() is done");
    assert.deepEqual(log, [], "the sibling never finished its work");
    assert.ok(waited.error instanceof AggregateError);
    assert.deepEqual(waited.error.errors, [boom]);
    assert.match(waited.error.message, /1 task\(s\) failed in task group "wave 1" \(web-2\)/);
  });
});

Deno.test("taskGroup: an independent task's failure is collected but siblings keep running", async () => {
  await withFakeTime(async (clock) => {
    const log: string[] = [];
    const boom = new Error("probe failed");
    const group = new TaskGroup();
    group.spawn(failAfter(100, boom), { independent: true });
    group.spawn(work(log, "sibling", 1_000));
    const waited = probe(group.wait());
    await clock.tickAsync(100);
    assert.equal(group.signal.aborted, false);
    await clock.tickAsync(900);
    assert.deepEqual(log, ["sibling"]);
    assert.ok(waited.error instanceof AggregateError);
    assert.deepEqual(waited.error.errors, [boom]);
  });
});

Deno.test("taskGroup.wait() throws an AggregateError of every failure, in order", async () => {
  await withFakeTime(async (clock) => {
    const errors = [new Error("first"), new Error("second"), new Error("third")];
    const group = new TaskGroup();
    group.spawn(failAfter(300, errors[2]), { independent: true, name: "c" });
    group.spawn(failAfter(100, errors[0]), { independent: true, name: "a" });
    group.spawn(failAfter(200, errors[1]), { independent: true, name: "b" });
    const waited = probe(group.wait());
    await clock.tickAsync(300);
    assert.ok(waited.error instanceof AggregateError);
    assert.deepEqual(waited.error.errors, errors);
    assert.match(waited.error.message, /3 task\(s\) failed .*\(a, b, c\)/);
  });
});

Deno.test("taskGroup.wait() reports each error once", async () => {
  await withFakeTime(async (clock) => {
    const group = new TaskGroup();
    group.spawn(failAfter(10, new Error("once")), { independent: true });
    const first = probe(group.wait());
    await clock.tickAsync(10);
    assert.ok(first.error instanceof AggregateError);
    await group.wait();
  });
});

Deno.test("taskGroup.abort() stops tasks and their abort rejections are not errors", async () => {
  await withFakeTime(async (clock) => {
    const log: string[] = [];
    const group = new TaskGroup();
    group.spawn(work(log, "a", 1_000));
    group.spawn(work(log, "b", 2_000), { independent: true });
    const waited = probe(group.wait());
    await clock.tickAsync(500);
    const reason = new Error("operator said stop");
    group.abort(reason);
    await flush(clock);
    assert.equal(waited.state, "fulfilled");
    assert.equal(group.signal.reason, reason);
    assert.deepEqual(log, []);
  });
});

Deno.test("taskGroup.abort() still reports a task that fails with something else", async () => {
  await withFakeTime(async (clock) => {
    const cleanupFailed = new Error("cleanup failed");
    const group = new TaskGroup();
    group.spawn(async (signal) => {
      await delay(1_000, { signal }).catch(() => {});
      throw cleanupFailed;
    });
    const waited = probe(group.wait());
    await flush(clock); // let the task start
    group.abort();
    await flush(clock);
    assert.ok(waited.error instanceof AggregateError);
    assert.deepEqual(waited.error.errors, [cleanupFailed]);
  });
});

Deno.test("taskGroup follows its parent signal and does not report the parent's reason", async () => {
  await withFakeTime(async (clock) => {
    const parent = new AbortController();
    const log: string[] = [];
    const group = new TaskGroup({ signal: parent.signal });
    group.spawn(work(log, "a", 1_000));
    const waited = probe(group.wait());
    await clock.tickAsync(10);
    const reason = new Error("SIGTERM");
    parent.abort(reason);
    await flush(clock);
    assert.ok(group.signal.aborted);
    assert.equal(group.signal.reason, reason);
    assert.equal(waited.state, "fulfilled");
    assert.deepEqual(log, []);
  });
});

Deno.test("taskGroup with an already-aborted parent never runs its tasks", async () => {
  await withFakeTime(async () => {
    const group = new TaskGroup({ signal: AbortSignal.abort(new Error("gone")) });
    let ran = false;
    const task = group.spawn(() => {
      ran = true;
      return Promise.resolve();
    });
    await assert.rejects(task, /gone/);
    await group.wait();
    assert.equal(ran, false);
  });
});

Deno.test("taskGroup.spawn() after an abort does not call fn and rejects with the reason", async () => {
  await withFakeTime(async () => {
    const group = new TaskGroup();
    const reason = new Error("stopped");
    group.abort(reason);
    let ran = false;
    const task = group.spawn(() => {
      ran = true;
      return Promise.resolve();
    });
    await assert.rejects(task, (err) => err === reason);
    await group.wait();
    assert.equal(ran, false);
  });
});

Deno.test("taskGroup.spawn() starts fn on a later microtask, not inside spawn()", async () => {
  await withFakeTime(async (clock) => {
    const group = new TaskGroup();
    let started = false;
    group.spawn(() => {
      started = true;
      return Promise.resolve();
    });
    assert.equal(started, false);
    await flush(clock);
    assert.equal(started, true);
    await group.wait();
  });
});

Deno.test("taskGroup.spawn() returns the task's result", async () => {
  await withFakeTime(async (clock) => {
    const group = new TaskGroup();
    const result = probe(group.spawn(work([], "value", 50)));
    await clock.tickAsync(50);
    assert.equal(result.value, "value");
    await group.wait();
  });
});

Deno.test("taskGroup leaves no rejection unhandled when spawn()'s promise is ignored", async () => {
  await withFakeTime(async (clock) => {
    const boom = new Error("ignored by the caller");
    const group = new TaskGroup();
    const unhandled = await collectUnhandled(async () => {
      group.spawn(failAfter(10, boom));
      group.spawn(work([], "sibling", 1_000)); // rejects with the abort reason
      await clock.tickAsync(10);
      await flush(clock);
    });
    assert.deepEqual(unhandled, []);
    await assert.rejects(group.wait(), AggregateError);
  });
});

Deno.test("taskGroup treats a synchronous throw from fn as a failed task", async () => {
  await withFakeTime(async () => {
    const boom = new Error("sync");
    const group = new TaskGroup();
    const task = group.spawn(() => {
      throw boom;
    });
    await assert.rejects(task, (err) => err === boom);
    await assert.rejects(group.wait(), (err) => err instanceof AggregateError);
  });
});

Deno.test("taskGroup: no task outlives its await using block", async () => {
  await withFakeTime(async (clock) => {
    const log: string[] = [];
    const block = probe((async () => {
      await using group = new TaskGroup();
      group.spawn(work(log, "short", 100));
      group.spawn(work(log, "long", 5_000));
      log.push("body done");
    })());
    await clock.tickAsync(4_999);
    assert.equal(block.state, "pending");
    assert.deepEqual(log, ["body done", "short"]);
    await clock.tickAsync(1);
    assert.equal(block.state, "fulfilled");
    assert.deepEqual(log, ["body done", "short", "long"]);
  });
});

Deno.test("taskGroup: leaving await using throws the collected errors", async () => {
  await withFakeTime(async (clock) => {
    const boom = new Error("web-3 did not come back");
    const block = probe((async () => {
      await using group = new TaskGroup();
      group.spawn(failAfter(100, boom));
    })());
    await clock.tickAsync(100);
    assert.ok(block.error instanceof AggregateError);
    assert.deepEqual(block.error.errors, [boom]);
  });
});

Deno.test("taskGroup: when the body throws, leaving await using still waits for tasks", async () => {
  await withFakeTime(async (clock) => {
    const log: string[] = [];
    const bodyError = new Error("body failed");
    const block = probe((async () => {
      await using group = new TaskGroup();
      group.spawn(work(log, "task", 1_000));
      throw bodyError;
    })());
    await clock.tickAsync(999);
    assert.equal(block.state, "pending");
    await clock.tickAsync(1);
    assert.equal(block.error, bodyError);
    assert.deepEqual(log, ["task"]);
  });
});

Deno.test("taskGroup.spawn() into a disposed group throws a TypeError", async () => {
  await withFakeTime(async () => {
    const group = new TaskGroup({ name: "done" });
    await group[Symbol.asyncDispose]();
    assert.equal(group.closed, true);
    assert.throws(() => group.spawn(async () => {}), (err: unknown) => {
      assert.ok(err instanceof TypeError);
      assert.match(err.message, /task group "done": it is closed/);
      return true;
    });
    assert.equal(group.size, 0);
  });
});

Deno.test("taskGroup.spawn() still works after wait(): only disposal closes the group", async () => {
  await withFakeTime(async (clock) => {
    const group = new TaskGroup();
    await group.wait();
    const log: string[] = [];
    group.spawn(work(log, "later", 10));
    await clock.tickAsync(10);
    await group.wait();
    assert.deepEqual(log, ["later"]);
  });
});
