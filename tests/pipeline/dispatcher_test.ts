import assert from "node:assert/strict";
import { FakeExecutor } from "../../src/executors/fake.ts";
import type { ExecuteOutcome } from "../../src/executors/types.ts";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../../src/store/mod.ts";
import { insertRows, startRow } from "../_helpers/store.ts";
import { waitFor } from "../_helpers/wait.ts";
import { hostsConfig } from "../_helpers/config.ts";
import { core } from "../restart/_harness.ts";

const basePolicy = {
  minIntervalSec: 0,
  maxPerHour: 1000,
  maxUnavailable: 4,
  maxUnavailablePerGroup: 4,
  retry: { attempts: 1, minDelayMs: 1, maxDelayMs: 2 },
};

/** A dispatcher over an in-memory store, hosts web-0..web-9 in group web, running until disposed. */
function harness(
  options: { executor: FakeExecutor; policy?: Record<string, unknown>; store?: SqliteStore },
) {
  return core({
    config: {
      executors: { fake: { type: "command", argv: ["true"] } },
      hosts: hostsConfig(10, { executor: "fake", group: () => "web" }),
      policy: { ...basePolicy, ...options.policy },
    },
    executors: { fake: options.executor },
    store: options.store,
  });
}

Deno.test("dispatcher retries a failed restart per policy.retry, then reports failed", async () => {
  const outcomes: ExecuteOutcome[] = [
    { kind: "connect", detail: "refused" },
    { kind: "exit", code: 1, detail: "boom" },
    { kind: "timeout", detail: "slow" },
  ];
  const executor = new FakeExecutor({
    outcome: () => Promise.resolve(outcomes.shift() ?? { kind: "ok" }),
  });
  await using h = harness({
    executor,
    policy: { retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 } },
  });
  h.submit("r-1", "web-1");
  const ev = await waitFor(() =>
    h.events.events.find((e) => e.id === "r-1" && e.phase === "failed")
  );
  assert.equal(executor.calls.length, 3);
  assert.match(ev.detail ?? "", /^timeout: slow/);
  assert.equal(h.store.get("r-1")?.outcome, "failed");
});

Deno.test("dispatcher does not retry what retrying cannot fix (auth failure)", async () => {
  const executor = new FakeExecutor({ outcome: { kind: "auth", detail: "Permission denied" } });
  await using h = harness({
    executor,
    policy: { retry: { attempts: 5, minDelayMs: 1, maxDelayMs: 2 } },
  });
  h.submit("r-1", "web-1");
  await waitFor(() => h.events.phase("failed").length === 1);
  assert.equal(executor.calls.length, 1);
});

Deno.test("dispatcher: while the store cannot write a start, nothing runs; once it can, the row runs once", async () => {
  const dir = await Deno.makeTempDir();
  const store = SqliteStore.open(`${dir}/m.db`);
  // Another connection makes every start fail, as a full disk would.
  const db = new DatabaseSync(`${dir}/m.db`);
  db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON history
           BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
  const executor = new FakeExecutor({ outcome: { kind: "ok" } });
  await using h = harness({ executor, store });
  h.submit("r-1", "web-1");
  await waitFor(() => /disk is full/.test(store.problem ?? ""), { what: "the failed commit" });
  assert.equal(executor.calls.length, 0, "executed although its start was not durable");
  assert.equal(store.get("r-1")?.state, "pending");
  assert.deepEqual(h.fatal, [], "a full disk is not a crash");
  db.exec("DROP TRIGGER refuse");
  db.close();
  await waitFor(() => h.events.phase("succeeded").length === 1, { what: "the retry" });
  assert.equal(executor.calls.length, 1);
  assert.equal(store.problem, undefined);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("dispatcher never runs two actions on one host at once and holds restarting hosts in the group's budget", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const perHost = new Map<string, number>();
  let maxPerHost = 0;
  const executor = new FakeExecutor({
    outcome: async (req) => {
      const n = (perHost.get(req.host) ?? 0) + 1;
      perHost.set(req.host, n);
      maxPerHost = Math.max(maxPerHost, n);
      await gate;
      perHost.set(req.host, perHost.get(req.host)! - 1);
      return { kind: "ok" };
    },
  });
  await using h = harness({ executor, policy: { maxUnavailable: 10, maxUnavailablePerGroup: 2 } });
  for (let i = 0; i < 6; i++) h.submit(`r-${i}`, `web-${i % 3}`);
  await executor.waitForRunning(2);
  assert.equal(h.dispatcher.inFlight().length, 6, "all six claimed, four waiting");
  assert.equal(executor.running, 2, "group limit exceeded");
  await waitFor(() => h.dispatcher.waitingCounts().group === 1, {
    what: "the third host to wait for its group (the rest wait for their host)",
  });
  assert.match(
    h.dispatcher.inFlight().find((f) => f.waitCode === "group")?.waitingFor ?? "",
    /^group web: web-\d restarting, web-\d restarting \(2 of 2 allowed down\)$/,
  );
  release();
  await waitFor(() => h.events.phase("succeeded").length === 6);
  assert.equal(executor.maxRunning, 2);
  assert.equal(maxPerHost, 1, "two actions ran on one host at once");
});

Deno.test("dispatcher reports rows left started by a crash as interrupted and never runs them", async () => {
  const store = SqliteStore.open(":memory:");
  const rows = insertRows(store, [{ id: "crashed", host: "web-1" }], 1);
  await startRow(store, rows.get("crashed")!, { executor: "fake", now: 2 });
  insertRows(store, [{ id: "waiting", host: "web-2" }], 3);
  const executor = new FakeExecutor({ outcome: { kind: "ok" } });
  await using h = harness({ executor, store });
  await waitFor(() => h.events.phase("succeeded").length === 1);
  assert.deepEqual(h.events.phase("interrupted").map((e) => e.id), ["crashed"]);
  assert.deepEqual(executor.calls.map((c) => c.req.id), ["waiting"]);
});

Deno.test("dispatcher: once shutdown starts, a row waiting for a slot stays pending and never runs", async () => {
  let release!: () => void;
  const executor = new FakeExecutor({
    gate: new Promise<void>((r) => release = r),
    outcome: { kind: "ok" },
  });
  await using h = harness({ executor, policy: { maxUnavailable: 1 } });
  h.submit("first", "web-1");
  h.submit("waiting", "web-2");
  await executor.waitForRunning(1);
  await waitFor(() => h.dispatcher.waitingCounts().fleet === 1, {
    what: "the second row to wait for the fleet's budget",
  });
  h.stop();
  release();
  await h.running;
  assert.deepEqual(executor.calls.map((c) => c.req.id), ["first"]);
  assert.equal(h.store.get("first")?.outcome, "succeeded");
  assert.equal(h.store.get("waiting")?.state, "pending");
});

Deno.test("dispatcher reports an unexpected error of one request to onTaskError", async () => {
  const store = SqliteStore.open(":memory:");
  store.tryStart = () => Promise.reject(new Error("disk I/O error"));
  const executor = new FakeExecutor({ outcome: { kind: "ok" } });
  await using h = harness({ executor, store });
  insertRows(store, [{ id: "r-1", host: "web-1" }], 0);
  h.dispatcher.wake();
  await waitFor(() => h.fatal.length === 1, { what: "the error to be reported" });
  assert.match(String(h.fatal[0]), /disk I\/O error/);
  assert.equal(executor.calls.length, 0, "executed although it could not be marked started");
});

Deno.test("dispatcher takes rows handed over, read back after wake() and after an overflow, each once in order", async () => {
  const executor = new FakeExecutor({ outcome: { kind: "ok" } });
  await using h = harness({ executor, policy: { dryRun: true } });
  const ids: string[] = [];
  const add = (...batch: string[]) => {
    for (const id of batch) {
      ids.push(id);
      h.store.insertRequest({ id, host: `web-${ids.length % 10}` }, 0);
    }
    return h.store.commitIntake().accepted;
  };
  const range = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  // Handed over one by one.
  for (let i = 0; i < 10; i++) h.dispatcher.enqueue(add(`a-${i}`)[0]!);
  await waitFor(() => h.events.phase("skipped").length === 10);
  // Written by someone else: only a wake() tells.
  add(...range("b", 10));
  h.dispatcher.wake();
  await waitFor(() => h.events.phase("skipped").length === 20);
  // More than the hand-over queue holds, in one synchronous burst: the rest is read back.
  for (const row of add(...range("c", 9_000))) h.dispatcher.enqueue(row);
  await waitFor(() => h.events.phase("skipped").length === 9_020, { timeoutMs: 20_000 });
  assert.deepEqual(h.events.phase("skipped").map((e) => e.id), ids, "each row once, in order");
  assert.deepEqual(h.store.counts(), { pending: 0, started: 0, done: 9_020 });
  assert.equal(executor.calls.length, 0);
});
