/**
 * `mandrill store migrate` from an SQLite store with every kind of row into
 * a real PostgreSQL, then a PostgreSQL store picks up where SQLite left off.
 */
import assert from "node:assert/strict";
import { PgStore, SqliteStore } from "../../src/store/mod.ts";
import { Postgres } from "../_helpers/postgres.ts";
import { runMandrill } from "../_helpers/process.ts";
import { insertRows, startRow } from "../_helpers/store.ts";

Deno.test("store migrate: every row moves; pending rows are taken, started ones end interrupted, held hosts are watched; a second copy and a store in use are refused", async () => {
  await using pg = await Postgres.start();
  const url = await pg.createDatabase("moved");
  const dir = await Deno.makeTempDir({ prefix: "mandrill-migrate-" });
  const file = `${dir}/mandrill.db`;
  try {
    {
      using sqlite = SqliteStore.open(file);
      const rows = insertRows(
        sqlite,
        ["r-1", "r-2", "r-3", "r-4"].map((id, i) => ({
          id,
          host: `web-${i + 1}`,
          reason: `reason ${id}`,
        })),
        1_000,
      );
      await startRow(sqlite, rows.get("r-1")!, { now: 2_000 });
      sqlite.historyFinish("r-1", "succeeded", "ok", 3_000, 1_000);
      sqlite.finishLater(rows.get("r-1")!, "succeeded", "ok", 3_000);
      sqlite.deleteOutage("web-1", "r-1"); // back
      await startRow(sqlite, rows.get("r-2")!, { now: 4_000 }); // left running
      sqlite.addDeadLetter({ topic: "mandrill/restart", payload: "{", error: "bad json", ts: 5 });
      sqlite.metaSet("control.lastVerified", '{"paused":true}');
      sqlite.metaSet("mqtt.filters", '["mandrill/restart"]');
      sqlite.insertRequest({ id: "dl-flush", host: "web-9" }, 6); // commits the dead letter
      sqlite.commitIntake();
      await sqlite.commitBatch();
    }
    const moved = await runMandrill(["store", "migrate", "--from", file, "--to", url]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(
      moved.stdout,
      /^Copied .*mandrill\.db to postgres:\/\/mandrill@127\.0\.0\.1:\d+\/moved: 5 requests, 2 executions, 1 dead letters, 1 hosts held, 1 facts\./,
    );

    const store = await PgStore.open({ url, instance: "mandrill-1", leaseMs: 5_000 });
    try {
      assert.equal((await store.get("r-1"))?.outcome, "succeeded");
      assert.equal((await store.historyGet("r-1"))?.durationMs, 1_000);
      assert.deepEqual((await store.interruptStarted(10_000)).map((r) => r.id), ["r-2"]);
      assert.deepEqual((await store.adoptOutages(10_000)).map((o) => [o.host, o.state]), [[
        "web-2",
        "restarting",
      ]]);
      const taken = await store.adoptPending(10);
      assert.deepEqual(taken.map((r) => r.id), ["r-3", "r-4", "dl-flush"]);
      assert.equal(taken[0]!.request.reason, "reason r-3");
      assert.deepEqual((await store.deadLetters()).map((d) => d.error), ["bad json"]);
      assert.equal(await store.metaGet("control.lastVerified"), '{"paused":true}');
      assert.equal(await store.metaGet("mqtt.filters"), undefined, "a session's filters moved");
      // New requests come after the copied ones.
      store.insertRequest({ id: "new-1", host: "web-1" }, 20_000);
      const [fresh] = (await store.commitIntake()).accepted;
      assert.ok(fresh!.seq > taken.at(-1)!.seq, `seq ${fresh!.seq} after ${taken.at(-1)!.seq}`);
    } finally {
      await store.close();
    }

    const again = await runMandrill(["store", "migrate", "--from", file, "--to", url]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds 6 requests: migrate into an empty one/);

    using _running = SqliteStore.open(file);
    const busy = await runMandrill([
      "store",
      "migrate",
      "--from",
      file,
      "--to",
      await pg.createDatabase("other"),
    ]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /in use by another/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store migrate: usage errors exit 2", async () => {
  for (
    const [args, re] of [
      [["store"], /a subcommand is required/],
      [["store", "copy"], /unknown subcommand "copy"/],
      [["store", "migrate", "--to", "postgres://db/m"], /--from FILE is required/],
      [["store", "migrate", "--from", "x.db", "--to", "mysql://db/m"], /--to postgres/],
    ] as const
  ) {
    const out = await runMandrill([...args]);
    assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
    assert.match(out.stderr, re);
  }
});
