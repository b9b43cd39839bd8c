import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type InboxRow, SqliteStore } from "../../src/store/mod.ts";
import { waitFor } from "../_helpers/wait.ts";
import { startRequestOf } from "../_helpers/store.ts";

const req = (id: string, host = "web-1") => ({ id, host });
const allow = () => ({ kind: "allow" as const });

/** Inserts requests through an intake commit; returns their rows, by id. */
function insert(store: SqliteStore, ids: string[], now = 1): Map<string, InboxRow> {
  for (const id of ids) store.insertRequest(req(id), now);
  return new Map(store.commitIntake().accepted.map((r) => [r.id, r]));
}

function start(row: InboxRow, now = 10) {
  return startRequestOf(row, { executor: "x", now });
}

async function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("store: an intake commit returns the new rows in arrival order and the duplicates", () => {
  using store = SqliteStore.open(":memory:");
  store.insertRequest(req("a"), 1);
  store.insertRequest(req("b"), 1);
  store.insertRequest(req("a", "web-2"), 1);
  store.addDeadLetter({ topic: "t", payload: "x", error: "bad", ts: 1 });
  const result = store.commitIntake();
  assert.deepEqual(result.accepted.map((r) => [r.id, r.host, r.state]), [
    ["a", "web-1", "pending"],
    ["b", "web-1", "pending"],
  ]);
  assert.deepEqual(result.duplicates, ["a"]);
  assert.deepEqual(result.accepted[0], store.get("a"), "the returned row is the stored one");
  assert.equal(store.deadLetters()[0]?.error, "bad");
  store.insertRequest(req("b"), 2);
  assert.deepEqual(store.commitIntake(), { accepted: [], duplicates: ["b"] });
  assert.deepEqual(store.commitIntake(), { accepted: [], duplicates: [] }, "an empty batch");
});

Deno.test("store: nothing of an intake batch is visible before its commit", async () => {
  await withDir((dir) => {
    using store = SqliteStore.open(`${dir}/m.db`);
    using other = SqliteStore.openReader(`${dir}/m.db`);
    store.insertRequest(req("a"), 1);
    assert.equal(other.get("a"), undefined);
    store.commitIntake();
    assert.equal(other.get("a")?.state, "pending");
  });
});

Deno.test("store: a failed intake commit drops its batch, says why, and the next one works", async () => {
  await withDir((dir) => {
    using store = SqliteStore.open(`${dir}/m.db`);
    const db = new DatabaseSync(`${dir}/m.db`);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.id = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    store.insertRequest(req("a"), 1);
    store.insertRequest(req("bad"), 1);
    assert.throws(() => store.commitIntake(), /refused by the test/);
    assert.match(store.problem ?? "", /cannot write to the store .*refused by the test/);
    assert.equal(store.get("a"), undefined, "a was rolled back with the batch");
    db.exec("DROP TRIGGER refuse");
    db.close();
    store.insertRequest(req("a"), 2);
    assert.deepEqual(store.commitIntake().accepted.map((r) => r.id), ["a"]);
    assert.equal(store.problem, undefined);
  });
});

Deno.test("store.tryStart() marks the row started with its outage and history, once", async () => {
  using store = SqliteStore.open(":memory:");
  const rows = insert(store, ["a", "b"]);
  const a = rows.get("a")!;
  assert.deepEqual(await store.tryStart(start(a), allow), { kind: "started" });
  assert.equal(store.get("a")?.state, "started");
  assert.equal(store.historyGet("a")?.startedAt, 10);
  assert.deepEqual(store.outages().map((o) => [o.host, o.id, o.state]), [[
    "web-1",
    "a",
    "restarting",
  ]]);
  assert.deepEqual(
    await store.tryStart(start(a), allow),
    { kind: "gone" },
    "a started row cannot start again",
  );
  assert.deepEqual(store.nextPending(0, 10).map((r) => r.id), ["b"]);
});

Deno.test("store.nextPending() pages pending rows in order, without those ending in the open batch", async () => {
  using store = SqliteStore.open(":memory:");
  const rows = insert(store, ["r0", "r1", "r2", "r3", "r4"]);
  store.finishLater(rows.get("r1")!, "skipped", "dry run", 5);
  const first = store.nextPending(0, 2);
  assert.deepEqual(first.map((r) => r.id), ["r0", "r2"]);
  assert.deepEqual(store.nextPending(first.at(-1)!.seq, 10).map((r) => r.id), ["r3", "r4"]);
  await store.commitBatch();
  assert.equal(store.get("r1")?.outcome, "skipped");
});

Deno.test("store.finishLater() ends many rows in one commit; the first end of a row is kept", async () => {
  await withDir(async (dir) => {
    using store = SqliteStore.open(`${dir}/m.db`);
    using other = SqliteStore.openReader(`${dir}/m.db`);
    // 90 rows: written as one statement of 64, one of 16, two of 4 and two of 1.
    const ids = Array.from({ length: 90 }, (_, i) => `r${i}`);
    const rows = insert(store, ids);
    for (const [i, id] of ids.entries()) {
      store.finishLater(rows.get(id)!, "skipped", `dry run ${i}`, 5);
    }
    store.finishLater(rows.get("r0")!, "failed", "a second end", 6);
    assert.equal(other.get("r0")?.state, "pending", "visible before the commit");
    let committed = false;
    store.afterCommit(() => committed = true);
    await store.commitBatch();
    assert.equal(committed, true);
    const r0 = other.get("r0")!;
    assert.deepEqual([r0.state, r0.outcome, r0.detail, r0.finishedAt], [
      "done",
      "skipped",
      "dry run 0",
      5,
    ]);
    assert.equal(other.get("r89")?.detail, "dry run 89");
    assert.deepEqual(other.counts(), { pending: 0, started: 0, done: 90 });
    store.finishLater(rows.get("r5")!, "failed", "too late", 10);
    await store.commitBatch();
    assert.equal(other.get("r5")?.outcome, "skipped", "a finished row keeps its outcome");
  });
});

Deno.test("store: a failed execution commit keeps its writes queued, says why, and retries until it works", async () => {
  await withDir(async (dir) => {
    using store = SqliteStore.open(`${dir}/m.db`);
    const rows = insert(store, ["a", "b"]);
    const db = new DatabaseSync(`${dir}/m.db`);
    db.exec(`CREATE TRIGGER refuse BEFORE UPDATE ON inbox WHEN NEW.detail = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    let after = 0;
    store.finishLater(rows.get("a")!, "skipped", "dry run", 2);
    store.finishLater(rows.get("b")!, "skipped", "refused", 2);
    store.afterCommit(() => after++);
    const started = store.tryStart(start(rows.get("a")!), allow);
    await assert.rejects(store.commitBatch(), /refused by the test/);
    assert.match(store.problem ?? "", /refused by the test/);
    assert.equal(store.get("a")?.state, "pending", "rolled back");
    assert.equal(after, 0, "no event for what was not committed");
    assert.deepEqual(store.nextPending(0, 10), [], "queued ends keep the rows out of dispatch");
    db.exec("DROP TRIGGER refuse");
    db.close();
    await waitFor(() => store.problem === undefined, { what: "the retry to commit" });
    assert.equal(store.get("a")?.outcome, "skipped");
    assert.equal(store.get("b")?.detail, "refused");
    assert.equal(after, 1);
    assert.deepEqual(await started, { kind: "gone" }, "a ended in the same batch: it never starts");
  });
});

Deno.test("store.interruptStarted() turns started rows into interrupted ones, once", async () => {
  using store = SqliteStore.open(":memory:");
  const rows = insert(store, ["a", "b"]);
  await store.tryStart(start(rows.get("a")!), allow);
  assert.deepEqual(store.interruptStarted(5).map((r) => r.id), ["a"]);
  assert.equal(store.get("a")?.outcome, "interrupted");
  assert.equal(store.historyGet("a")?.outcome, "interrupted");
  assert.equal(store.get("b")?.state, "pending");
  assert.deepEqual(store.interruptStarted(6), []);
});

Deno.test("store survives reopening: the file keeps rows, history, outages and meta", async () => {
  await withDir(async (dir) => {
    {
      await using store = {
        s: SqliteStore.open(`${dir}/m.db`),
        async [Symbol.asyncDispose]() {
          await this.s.close();
        },
      };
      const s = store.s;
      const rows = insert(s, ["a"]);
      await s.tryStart(start(rows.get("a")!), allow);
      s.historyFinish("a", "succeeded", "ok", 20, 10);
      s.historyRecovered("a", 50, 40);
      s.putOutage({ ...start(rows.get("a")!).outage, state: "coming_back" });
      s.metaSet("k", "v");
      // close() commits what is still queued.
    }
    using store = SqliteStore.open(`${dir}/m.db`);
    const h = store.historyGet("a");
    assert.equal(h?.recoveryMs, 40);
    assert.equal(h?.durationMs, 10);
    assert.deepEqual(store.restartsSince(0), [{ host: "web-1", startedAt: 10 }]);
    assert.deepEqual(store.outages().map((o) => o.state), ["coming_back"]);
    assert.equal(store.metaGet("k"), "v");
    assert.equal(store.listRequests({ host: "web-1" })[0]?.execution?.outcome, "succeeded");
  });
});

Deno.test("store.prune() deletes old finished requests only, and never the newest row", async () => {
  using store = SqliteStore.open(":memory:");
  const rows = insert(store, ["old-done", "old-pending", "old-newest"]);
  store.finishLater(rows.get("old-done")!, "succeeded", null, 10);
  store.finishLater(rows.get("old-newest")!, "skipped", "dry run", 11);
  store.addDeadLetter({ topic: "t", payload: "x", error: "bad", ts: 4 });
  store.commitIntake();
  await store.commitBatch();
  assert.equal(store.pendingCount(), 1);
  assert.equal(store.prune(1_000), 1);
  assert.equal(store.get("old-done"), undefined);
  assert.equal(store.get("old-pending")?.state, "pending", "a pending row was pruned");
  assert.ok(store.get("old-newest"), "the newest row was pruned: rowids could be reused");
  assert.deepEqual(store.deadLetters(), []);
  const later = insert(store, ["new"], 2_000);
  assert.ok(later.get("new")!.seq > store.get("old-newest")!.seq);
});

Deno.test("store.checkpoint() moves the log into the database only when this store wrote since", async () => {
  await withDir((dir) => {
    const path = `${dir}/m.db`;
    using store = SqliteStore.open(path);
    const size = () => Deno.statSync(path).size;
    store.checkpoint();
    const empty = size();
    insert(store, Array.from({ length: 200 }, (_, i) => `a${i}`));
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
    insert(store, ["c"], 2);
    store.checkpoint();
    assert.ok(size() > moved, "its own write: the whole log moved");
  });
});
