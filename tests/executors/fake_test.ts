import assert from "node:assert/strict";
import { FakeExecutor } from "../../src/executors/fake.ts";

Deno.test("FakeExecutor records calls and answers per host, by function, or ok", async () => {
  const fake = new FakeExecutor({
    byHost: { "db-1": { kind: "timeout", detail: "slow" } },
    outcome: (req) =>
      req.host.startsWith("web") ? { kind: "ok", detail: req.id } : { kind: "auth", detail: "no" },
  });
  assert.deepEqual(await fake.execute({ id: "r-1", host: "web-1" }), { kind: "ok", detail: "r-1" });
  assert.deepEqual(await fake.execute({ id: "r-2", host: "db-1" }), {
    kind: "timeout",
    detail: "slow",
  });
  assert.equal((await fake.execute({ id: "r-3", host: "mail-1" })).kind, "auth");
  assert.deepEqual(fake.hosts, ["web-1", "db-1", "mail-1"]);
  assert.deepEqual(await new FakeExecutor().execute({ id: "r-4", host: "x" }), { kind: "ok" });
});

Deno.test("FakeExecutor holds calls behind a gate and counts concurrency", async () => {
  const gate = Promise.withResolvers<void>();
  const fake = new FakeExecutor({ gate: gate.promise });
  const runs = ["a", "b", "c"].map((host, i) => fake.execute({ id: `r-${i}`, host }));
  await fake.waitForRunning(3);
  assert.equal(fake.running, 3);
  gate.resolve();
  const outcomes = await Promise.all(runs);
  assert.ok(outcomes.every((o) => o.kind === "ok"));
  assert.equal(fake.running, 0);
  assert.equal(fake.maxRunning, 3);
  await fake.waitForCalls(3);
});

Deno.test("FakeExecutor answers aborted when the signal aborts at the gate", async () => {
  const fake = new FakeExecutor({ gate: new Promise(() => {}) });
  const controller = new AbortController();
  const running = fake.execute({ id: "r-1", host: "web-1" }, controller.signal);
  await fake.waitForRunning(1);
  controller.abort(new Error("shutdown"));
  assert.deepEqual(await running, { kind: "aborted", detail: "fake execution aborted: shutdown" });
  assert.equal(fake.running, 0);
  assert.equal(
    (await fake.execute({ id: "r-2", host: "web-1" }, AbortSignal.abort())).kind,
    "aborted",
  );
});

Deno.test("FakeExecutor.waitForCalls rejects with the signal's reason", async () => {
  const fake = new FakeExecutor();
  const controller = new AbortController();
  const waiting = fake.waitForCalls(1, controller.signal);
  controller.abort(new Error("gave up"));
  await assert.rejects(waiting, /gave up/);
});
