import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Store } from "../../src/store/mod.ts";

const req = (id: string, host = "web-1") => ({ id, host });

Deno.test("store.insertRequest() keeps one row per id and reports duplicates", () => {
  using store = Store.open(":memory:");
  const row = store.insertRequest(req("a"), 1);
  assert.deepEqual(row, store.get("a"), "the returned row is the stored one, seq included");
  assert.equal(store.insertRequest(req("a", "web-2"), 2), undefined);
  assert.equal(store.get("a")?.host, "web-1");
  assert.deepEqual(store.counts(), { pending: 1, started: 0, done: 0 });
  assert.equal(store.insertRequest(req("b"), 3)?.seq, row!.seq + 1);
});

Deno.test("store.pendingAfter() pages pending rows in arrival order", () => {
  using store = Store.open(":memory:");
  for (let i = 0; i < 5; i++) store.insertRequest(req(`r${i}`), i);
  store.markStarted("r1", 10);
  const first = store.pendingAfter(0, 2);
  assert.deepEqual(first.map((r) => r.id), ["r0", "r2"]);
  const rest = store.pendingAfter(first.at(-1)!.seq, 10);
  assert.deepEqual(rest.map((r) => r.id), ["r3", "r4"]);
});

Deno.test("store.interruptStarted() turns started rows into interrupted ones, once", () => {
  using store = Store.open(":memory:");
  store.insertRequest(req("a"), 1);
  store.insertRequest(req("b"), 1);
  assert.equal(store.markStarted("a", 2), true);
  assert.equal(store.markStarted("a", 3), false, "a started row cannot start again");
  const rows = store.interruptStarted(5);
  assert.deepEqual(rows.map((r) => r.id), ["a"]);
  assert.equal(store.get("a")?.outcome, "interrupted");
  assert.equal(store.get("b")?.state, "pending");
  assert.deepEqual(store.interruptStarted(6), []);
  assert.equal(store.finish("a", "succeeded", null, 7), false, "a finished row keeps its outcome");
});

Deno.test("store survives reopening: the file keeps rows and schema version", async () => {
  const dir = await Deno.makeTempDir();
  try {
    {
      using store = Store.open(`${dir}/m.db`);
      store.insertRequest(req("a"), 1);
      store.historyStart({
        id: "a",
        host: "web-1",
        executor: "ssh",
        requestedBy: null,
        reason: null,
        startedAt: 10,
      });
      store.historyFinish("a", "succeeded", "ok", 20, 10);
      store.historyRecovered("a", 50, 40);
      store.addDeadLetter({ topic: "t", payload: "x", error: "bad", ts: 3 });
    }
    using store = Store.open(`${dir}/m.db`);
    assert.equal(store.get("a")?.id, "a");
    const h = store.historyGet("a");
    assert.equal(h?.recoveryMs, 40);
    assert.equal(h?.durationMs, 10);
    assert.deepEqual(store.restartsSince(0), [{ host: "web-1", startedAt: 10 }]);
    assert.equal(store.deadLetters()[0]?.error, "bad");
    const list = store.listRequests({ host: "web-1" });
    assert.equal(list[0]?.execution?.outcome, "succeeded");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store.prune() deletes old finished requests only, and never the newest row", () => {
  using store = Store.open(":memory:");
  store.insertRequest(req("old-done"), 1);
  store.finish("old-done", "succeeded", null, 10);
  store.historyStart({
    id: "old-done",
    host: "web-1",
    executor: "x",
    requestedBy: null,
    reason: null,
    startedAt: 5,
  });
  store.insertRequest(req("old-pending"), 2);
  store.insertRequest(req("old-newest"), 3);
  store.finish("old-newest", "skipped", "dry run", 11);
  store.addDeadLetter({ topic: "t", payload: "x", error: "bad", ts: 4 });
  assert.equal(store.pendingCount(), 1);
  assert.equal(store.prune(1_000), 1);
  assert.equal(store.get("old-done"), undefined);
  assert.equal(store.historyGet("old-done"), undefined);
  assert.equal(store.get("old-pending")?.state, "pending", "a pending row was pruned");
  assert.ok(store.get("old-newest"), "the newest row was pruned: rowids could be reused");
  assert.deepEqual(store.deadLetters(), []);
  store.insertRequest(req("new"), 2_000);
  assert.ok(store.get("new")!.seq > store.get("old-newest")!.seq);
});

Deno.test("store group commit: deferred writes are durable only after commitBatch or any other write", async () => {
  const dir = await Deno.makeTempDir();
  try {
    using store = Store.open(`${dir}/m.db`);
    using other = Store.open(`${dir}/m.db`); // another connection sees only what is committed
    store.insertRequest(req("a"), 1, { deferCommit: true });
    store.insertRequest(req("b", "web-2"), 1, { deferCommit: true });
    assert.equal(store.batchOpen, true);
    assert.equal(other.get("a"), undefined, "visible before the commit");
    store.commitBatch();
    assert.equal(other.get("b")?.id, "b");
    store.insertRequest(req("c"), 2, { deferCommit: true });
    store.markStarted("a", 3); // an execution-side write commits the batch first
    assert.equal(store.batchOpen, false);
    assert.equal(other.get("c")?.state, "pending");
    assert.equal(other.get("a")?.state, "started");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store.finishLater() ends rows in the open batch: readable at once, committed together, first end kept", async () => {
  const dir = await Deno.makeTempDir();
  try {
    using store = Store.open(`${dir}/m.db`);
    using other = Store.open(`${dir}/m.db`);
    // 90 rows: written as one statement of 64, one of 16, two of 4 and two of 1.
    const seqs = Array.from({ length: 90 }, (_, i) => store.insertRequest(req(`r${i}`), 1)!.seq);
    for (const [i, seq] of seqs.entries()) store.finishLater(seq, "skipped", `dry run ${i}`, 5);
    store.finishLater(seqs[0]!, "failed", "a second end", 6);
    assert.equal(store.batchOpen, true);
    assert.equal(
      other.get("r0")?.state,
      "pending",
      "visible to another connection before the commit",
    );
    assert.deepEqual(
      store.counts(),
      { pending: 0, started: 0, done: 90 },
      "this connection reads them",
    );
    assert.equal(store.markStarted("r1", 7), false, "a row ended in the batch cannot start");
    store.commitBatch();
    const r0 = other.get("r0")!;
    assert.deepEqual([r0.state, r0.outcome, r0.detail, r0.finishedAt], [
      "done",
      "skipped",
      "dry run 0",
      5,
    ]);
    assert.equal(other.get("r89")?.detail, "dry run 89");
    assert.deepEqual(other.counts(), { pending: 0, started: 0, done: 90 });
    const late = store.insertRequest(req("late"), 8)!;
    store.finish("late", "succeeded", null, 9);
    store.finishLater(late.seq, "failed", "too late", 10);
    store.commitBatch();
    assert.equal(other.get("late")?.outcome, "succeeded", "a finished row keeps its outcome");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store.finishLater(): a failed batch loses its ends with it and counts as a failed commit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    using store = Store.open(`${dir}/m.db`);
    // Another connection adds a trigger that makes one end fail when it is written.
    const db = new DatabaseSync(`${dir}/m.db`);
    db.exec(`CREATE TRIGGER refuse BEFORE UPDATE ON inbox WHEN NEW.detail = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    db.close();
    const a = store.insertRequest(req("a"), 1)!;
    const b = store.insertRequest(req("b"), 1, { deferCommit: true })!;
    store.finishLater(a.seq, "skipped", "dry run", 2);
    store.finishLater(b.seq, "skipped", "refused", 2);
    const failed = store.failedCommits;
    assert.throws(() => store.commitBatch(), /refused by the test/);
    assert.equal(store.failedCommits, failed + 1);
    assert.equal(store.batchOpen, false);
    assert.throws(() => store.commitForAck(), /group commit failed/);
    assert.equal(store.get("a")?.state, "pending", "the end of a was rolled back");
    assert.equal(store.get("b"), undefined, "the deferred insert of b was rolled back");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store.checkpoint() moves the log into the database only when this store wrote since", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.db`;
    using store = Store.open(path);
    const size = () => Deno.statSync(path).size;
    store.checkpoint();
    const empty = size();
    for (let i = 0; i < 200; i++) store.insertRequest(req(`a${i}`), 1);
    assert.equal(size(), empty, "the rows are in the log, not yet in the database file");
    store.checkpoint();
    const moved = size();
    assert.ok(moved > empty, `checkpointed: ${empty} → ${moved} bytes`);
    // Writes of another connection alone do not make this store checkpoint.
    const other = new DatabaseSync(path);
    other.exec("PRAGMA wal_autocheckpoint = 0");
    const ins = other.prepare(
      `INSERT INTO inbox (id, host, request, state, received_at) VALUES (?, 'web-1', '{}', 'pending', 1)`,
    );
    other.exec("BEGIN");
    for (let i = 0; i < 200; i++) ins.run(`b${i}-${"x".repeat(200)}`);
    other.exec("COMMIT");
    other.close();
    store.checkpoint();
    assert.equal(size(), moved, "nothing of its own to move: skipped");
    store.insertRequest(req("c"), 2);
    store.checkpoint();
    assert.ok(size() > moved, "its own write: the whole log moved");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
