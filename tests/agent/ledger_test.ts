import assert from "node:assert/strict";
import { CommandLedger } from "../../src/agent/ledger.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "mandrill-ledger-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("CommandLedger: a missing state file is an empty ledger, created on the first write", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/state.json`;
  const ledger = CommandLedger.open(file);
  assert.equal(ledger.size, 0);
  ledger.begin("r-1", "boot-a", 1000);
  const saved = JSON.parse(await Deno.readTextFile(file));
  assert.deepEqual(saved, {
    version: 1,
    commands: [{ id: "r-1", state: "started", bootId: "boot-a", startedAt: 1000 }],
  });
});

Deno.test("CommandLedger: begin() is durable before it returns, finish() records the result", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/state.json`;
  const ledger = CommandLedger.open(file);
  ledger.begin("r-1", "boot-a", 1);
  assert.deepEqual(CommandLedger.open(file).unfinished().map((e) => e.id), ["r-1"]);
  ledger.finish("r-1", { ok: false, detail: "reboot exited with 1" });
  const again = CommandLedger.open(file);
  assert.deepEqual(again.get("r-1"), {
    id: "r-1",
    state: "done",
    bootId: "boot-a",
    startedAt: 1,
    ok: false,
    detail: "reboot exited with 1",
  });
  assert.deepEqual(again.unfinished(), []);
  assert.throws(() => ledger.begin("r-1", "boot-a", 2), TypeError);
  assert.throws(() => ledger.finish("r-404", { ok: true }), TypeError);
});

Deno.test("CommandLedger keeps only the most recent maxEntries ids, in memory and on disk", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/state.json`;
  const ledger = CommandLedger.open(file, { maxEntries: 1000 });
  for (let i = 0; i < 1005; i++) ledger.begin(`r-${i}`, "b", i);
  assert.equal(ledger.size, 1000);
  assert.equal(ledger.get("r-4"), undefined);
  assert.ok(ledger.get("r-5"));
  assert.ok(ledger.get("r-1004"));
  const reopened = CommandLedger.open(file);
  assert.equal(reopened.size, 1000);
  assert.equal(reopened.get("r-4"), undefined);
  assert.ok(reopened.get("r-1004"));
  // A smaller bound on reopening keeps the newest.
  const small = CommandLedger.open(file, { maxEntries: 3 });
  assert.equal(small.size, 3);
  assert.ok(small.get("r-1002"));
  assert.equal(small.get("r-1001"), undefined);
});

Deno.test("CommandLedger writes through a temp file and a rename, leaving no temp file", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/state.json`;
  const ledger = CommandLedger.open(file);
  ledger.begin("r-1", "b", 1);
  ledger.finish("r-1", { ok: true });
  const names = [];
  for await (const e of Deno.readDir(dir.path)) names.push(e.name);
  assert.deepEqual(names, ["state.json"]);
});

Deno.test("CommandLedger: a failed write leaves the ledger as it was and throws", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/missing-dir/state.json`;
  const ledger = CommandLedger.open(file);
  assert.throws(() => ledger.begin("r-1", "b", 1), Deno.errors.NotFound);
  assert.equal(ledger.get("r-1"), undefined);
  assert.equal(ledger.size, 0);
});

Deno.test("CommandLedger refuses a corrupt state file instead of forgetting what ran", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/state.json`;
  for (
    const text of [
      "{not json",
      '{"version":2,"commands":[]}',
      '{"version":1,"commands":[{"id":"bad id"}]}',
    ]
  ) {
    await Deno.writeTextFile(file, text);
    assert.throws(() => CommandLedger.open(file), /not a valid mandrill agent state file/);
  }
  assert.throws(() => CommandLedger.open(file, { maxEntries: 0 }), RangeError);
});
