import assert from "node:assert/strict";
import { SqliteStore } from "../../src/store/mod.ts";
import { insertRows, startRow } from "../_helpers/store.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function mandrill(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-check", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("mandrill history lists requests newest first, with executions, filtered by host", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = `${dir}/m.db`;
    {
      const store = SqliteStore.open(db);
      const rows = insertRows(store, [{ id: "a-1", host: "web-1" }], 1000);
      insertRows(store, [{ id: "b-2", host: "web-2" }], 2000);
      insertRows(store, [{ id: "c-3", host: "web-1", reason: "disk full" }], 3000);
      await startRow(store, rows.get("a-1")!, { executor: "ssh", now: 1100 });
      store.historyFinish("a-1", "succeeded", "ok", 3600, 2500);
      store.historyRecovered("a-1", 45_000, 43_900);
      store.finishLater(rows.get("a-1")!, "succeeded", "ok", 3600);
      store.finishLater(store.get("b-2")!, "skipped", "dry run", 2100);
      // d-4 was restarted, but its host did not come back.
      const d = insertRows(store, [{ id: "d-4", host: "web-4" }], 4000);
      await startRow(store, d.get("d-4")!, { executor: "agent", now: 4100 });
      store.historyFinish("d-4", "succeeded", "ok", 4600, 500);
      store.finishLater(d.get("d-4")!, "succeeded", "ok", 4600);
      store.historyNotBack("d-4", "web-4 did not come back within 600 s");
      await store.close();
    }
    await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify({ store: { path: db } }));
    const all = await mandrill("history", "--config", `${dir}/c.json`);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trim().split("\n");
    assert.deepEqual(lines.slice(1).map((l) => l.split("\t")[1]), ["d-4", "c-3", "b-2", "a-1"]);
    assert.match(
      lines[1]!,
      /\tweb-4\tfailed\tagent\t0\.5s\t-\tweb-4 did not come back within 600 s$/,
    );
    assert.match(lines[4]!, /\tweb-1\tsucceeded\tssh\t2\.5s\t43\.9s\t/);
    assert.match(lines[2]!, /\tpending\t/);
    const json = await mandrill(
      "history",
      "--config",
      `${dir}/c.json`,
      "--host",
      "web-1",
      "--json",
    );
    assert.equal(json.code, 0, json.stderr);
    const rows = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => r.id), ["c-3", "a-1"]);
    assert.equal(rows[1].execution.recoveryMs, 43_900);
    const bad = await mandrill("history", "--config", `${dir}/c.json`, "--host", "web_1;x");
    assert.equal(bad.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
