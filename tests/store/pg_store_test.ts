/**
 * The PostgreSQL store against a real PostgreSQL (initdb + pg_ctl in a temp
 * dir): what several instances share, the fleet-wide start, leases and
 * takeover, and a database that goes away.
 */
import assert from "node:assert/strict";
import type { InboxRow, SharedFacts, StartVerdict } from "../../src/store/mod.ts";
import { PgStore } from "../../src/store/mod.ts";
import { connect } from "../../src/store/pg/sql.ts";
import { Postgres } from "../_helpers/postgres.ts";
import { startRequestOf } from "../_helpers/store.ts";
import { waitFor } from "../_helpers/wait.ts";

const req = (id: string, host = "web-1") => ({ id, host });
const allow = (): StartVerdict => ({ kind: "allow" });

/** The file's server (started by the one test, its steps each get a database). */
let server: Postgres;
let databases = 0;
async function database(): Promise<string> {
  return await server.createDatabase(`t${++databases}`);
}

async function open(url: string, instance: string, leaseMs = 15_000): Promise<PgStore> {
  return await PgStore.open({ url, instance, leaseMs });
}

async function insert(store: PgStore, ids: string[], host = "web-1"): Promise<InboxRow[]> {
  for (const id of ids) store.insertRequest(req(id, host), 1);
  return (await store.commitIntake()).accepted;
}

/** A plain client, to look at (or set up) what an instance left. */
function raw(url: string) {
  return connect({ url, max: 1 });
}

const steps: [string, () => Promise<void>][] = [];

steps.push(["intake returns new rows in order and dedupes by id across instances", async () => {
  const url = await database();
  const a = await open(url, "a");
  const b = await open(url, "b");
  try {
    for (const id of ["r-1", "r-2", "r-1"]) a.insertRequest(req(id), 1);
    const first = await a.commitIntake();
    assert.deepEqual(first.accepted.map((r) => r.id), ["r-1", "r-2"]);
    assert.deepEqual(first.duplicates, ["r-1"]);
    assert.ok(first.accepted[0]!.seq < first.accepted[1]!.seq);
    // The same id through another instance (no shared group: both got it).
    b.insertRequest(req("r-2"), 2);
    b.insertRequest(req("r-3"), 2);
    const second = await b.commitIntake();
    assert.deepEqual(second.accepted.map((r) => r.id), ["r-3"]);
    assert.deepEqual(second.duplicates, ["r-2"]);
    assert.equal(await a.pendingCount(), 3);
    // Each instance dispatches what it accepted.
    assert.deepEqual((await a.nextPending(0, 10)).map((r) => r.id), ["r-1", "r-2"]);
    assert.deepEqual((await b.nextPending(0, 10)).map((r) => r.id), ["r-3"]);
  } finally {
    await a.close();
    await b.close();
  }
}]);

steps.push([
  "40 starts racing on two instances, each allowed only while its group has no outage: exactly one starts",
  async () => {
    const url = await database();
    const a = await open(url, "a");
    const b = await open(url, "b");
    try {
      const ra = await insert(a, Array.from({ length: 20 }, (_, i) => `a-${i}`), "x");
      const rb = await insert(b, Array.from({ length: 20 }, (_, i) => `b-${i}`), "y");
      // Hosts x and y are one group with a budget of one: the check must see every instance's outages.
      const recheck = (facts: SharedFacts): StartVerdict =>
        facts.outages.length === 0
          ? { kind: "allow" }
          : { kind: "wait", code: "group", reason: "group g: 1 of 1 down" };
      const results = await Promise.all([
        ...ra.map((row) => a.tryStart(startRequestOf(row), recheck)),
        ...rb.map((row) => b.tryStart(startRequestOf(row), recheck)),
      ]);
      const started = results.filter((r) => r.kind === "started").length;
      assert.equal(started, 1, `${started} started: ${JSON.stringify(results.slice(0, 3))}`);
      assert.equal(results.filter((r) => r.kind === "refused").length, 39);
      assert.equal((await a.outages()).length, 1);
    } finally {
      await a.close();
      await b.close();
    }
  },
]);

steps.push([
  "the shared facts count every instance's restarts in the last hour and the host's last restart",
  async () => {
    const url = await database();
    const a = await open(url, "a");
    const b = await open(url, "b");
    try {
      const [r1] = await insert(a, ["r-1"], "web-1");
      assert.equal(
        (await a.tryStart(startRequestOf(r1!, { now: 5_000_000 }), allow)).kind,
        "started",
      );
      const [r2] = await insert(b, ["r-2"], "web-1");
      let seen: SharedFacts | undefined;
      const refused = await b.tryStart(startRequestOf(r2!, { now: 5_001_000 }), (facts) => {
        seen = facts;
        return { kind: "skip", code: "rate_limited", reason: "maxPerHour 1" };
      });
      assert.equal(refused.kind, "refused");
      assert.equal(seen?.restartsLastHour, 1);
      assert.equal(seen?.lastRestartAt, 5_000_000);
      assert.deepEqual(seen?.outages.map((o) => [o.host, o.id]), [["web-1", "r-1"]]);
      assert.equal((await b.get("r-2"))?.state, "pending", "a refusal writes nothing");
    } finally {
      await a.close();
      await b.close();
    }
  },
]);

steps.push([
  "what an instance that is gone left is taken over once — pending rows by one survivor each, started rows interrupted once, its hosts watched by one",
  async () => {
    const url = await database();
    const dead = await open(url, "dead");
    const pending = await insert(dead, Array.from({ length: 30 }, (_, i) => `p-${i}`));
    const [started] = await insert(dead, ["s-1"], "web-9");
    assert.equal((await dead.tryStart(startRequestOf(started!), allow)).kind, "started");
    // It dies: its leases are no longer renewed (here: they expire at once).
    const sql = raw(url);
    await sql`UPDATE inbox SET lease_until = 0`;
    await sql`UPDATE outage SET lease_until = 0`;
    const a = await open(url, "a");
    const b = await open(url, "b");
    try {
      const [ta, tb] = await Promise.all([a.adoptPending(256), b.adoptPending(256)]);
      const ids = [...ta, ...tb].map((r) => r.id).sort();
      assert.deepEqual(ids, pending.map((r) => r.id).sort(), "each pending row taken over once");
      assert.equal(new Set(ids).size, 30);
      const [ia, ib] = await Promise.all([a.interruptStarted(10), b.interruptStarted(10)]);
      assert.deepEqual([...ia, ...ib].map((r) => r.id), ["s-1"]);
      assert.equal((await a.get("s-1"))?.outcome, "interrupted");
      assert.equal((await a.historyGet("s-1"))?.outcome, "interrupted");
      const [oa, ob] = await Promise.all([a.adoptOutages(10), b.adoptOutages(10)]);
      assert.deepEqual([...oa, ...ob].map((o) => o.host), ["web-9"]);
      // Nothing is left to take, and a live instance's rows are never taken.
      await insert(a, ["live-1"]);
      assert.deepEqual(await b.adoptPending(256), []);
      assert.deepEqual(await b.interruptStarted(11), []);
    } finally {
      await dead.close();
      await a.close();
      await b.close();
      await sql.end();
    }
  },
]);

steps.push([
  "leases are renewed while an instance lives; a stopped one hands its pending rows and hosts over at once",
  async () => {
    const url = await database();
    const a = await open(url, "a", 600);
    const b = await open(url, "b", 600);
    const sql = raw(url);
    try {
      const rows = await insert(a, ["r-1", "r-2"]);
      assert.equal((await a.tryStart(startRequestOf(rows[0]!), allow)).kind, "started");
      // Three lease lengths later, a's rows and host are still a's.
      await new Promise((r) => setTimeout(r, 1_800));
      assert.deepEqual(await b.adoptPending(10), []);
      assert.deepEqual(await b.adoptOutages(1), []);
      assert.deepEqual(await b.interruptStarted(1), []);
      await a.close();
      assert.deepEqual((await b.adoptPending(10)).map((r) => r.id), ["r-2"]);
      assert.deepEqual((await b.adoptOutages(1)).map((o) => o.id), ["r-1"]);
      const [owner] = await sql`SELECT owner FROM outage`;
      assert.match(String(owner!.owner), /^b#/);
    } finally {
      await a.close();
      await b.close();
      await sql.end();
    }
  },
]);

steps.push(["a start whose COMMIT answer was lost runs on the next try, once", async () => {
  const url = await database();
  const a = await open(url, "a");
  const sql = raw(url);
  try {
    const [row] = await insert(a, ["r-1"]);
    // As if the first try committed and the answer never came back.
    const [claim] = await sql`SELECT claimed_by FROM inbox WHERE id = 'r-1'`;
    await sql`UPDATE inbox SET state = 'started' WHERE id = 'r-1'`;
    assert.deepEqual(await a.tryStart(startRequestOf(row!), allow), { kind: "started" });
    assert.ok(claim!.claimed_by);
    // Another instance's started row is not ours to run.
    await sql`UPDATE inbox SET claimed_by = 'other#1' WHERE id = 'r-1'`;
    assert.deepEqual(await a.tryStart(startRequestOf(row!), allow), { kind: "gone" });
  } finally {
    await a.close();
    await sql.end();
  }
}]);

steps.push([
  "a chaos group's turn is one instance's until it expires; peers see each other",
  async () => {
    const url = await database();
    const a = await open(url, "a");
    const b = await open(url, "b");
    try {
      assert.equal(await a.chaosTurn("web", 400), true);
      assert.equal(await b.chaosTurn("web", 400), false);
      assert.equal(await a.chaosTurn("web", 400), true, "the holder keeps it");
      assert.equal(await b.chaosTurn("db", 400), true, "another group is free");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await b.chaosTurn("web", 400), true, "taken once expired");
      assert.equal(await a.chaosTurn("web", 400), false);
      const self = (id: string, group: string | null) => ({
        id,
        topic: "mandrill/restart",
        sharedGroup: group,
      });
      assert.deepEqual(await a.peers(self("a", "g")), []);
      assert.deepEqual(await b.peers(self("b", null)), [{
        id: "a",
        topic: "mandrill/restart",
        sharedGroup: "g",
      }]);
    } finally {
      await a.close();
      await b.close();
    }
  },
]);

steps.push([
  "PostgreSQL stopped — intake and starts fail with the reason (nothing written), upkeep retries; back, everything works",
  async () => {
    const pg = server;
    const url = await database();
    const a = await PgStore.open({ url, instance: "a", leaseMs: 600, connectTimeoutSec: 2 });
    try {
      const [row] = await insert(a, ["r-1"]);
      await pg.stop();
      a.insertRequest(req("r-2"), 1);
      await assert.rejects(a.commitIntake());
      assert.match(a.problem ?? "", /cannot write to the store postgres:\/\/mandrill@127\.0\.0\.1/);
      const start = await a.tryStart(startRequestOf(row!), allow);
      assert.equal(start.kind, "unavailable");
      a.finishLater(row!, "skipped", "test", 1);
      await pg.start();
      // The queued end commits on its own once the database is back.
      const sql = raw(url);
      try {
        const ended = async () =>
          (await sql`SELECT state FROM inbox WHERE id = 'r-1'`.catch(() => []))[0]?.state;
        for (let i = 0; i < 200 && await ended() !== "done"; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(await ended(), "done");
        a.insertRequest(req("r-2"), 1);
        assert.deepEqual((await a.commitIntake()).accepted.map((r) => r.id), ["r-2"]);
        // A lease renewal that failed while the database was down is reported
        // until the next one succeeds (every leaseMs / 3).
        await waitFor(() => a.problem === undefined, {
          timeoutMs: 5_000,
          what: `the store's problem to clear (${a.problem})`,
        });
        assert.equal(a.problem, undefined);
      } finally {
        await sql.end();
      }
    } finally {
      await a.close();
    }
  },
]);

steps.push(["a reader does not migrate; a newer schema is refused by name", async () => {
  const url = await database();
  await assert.rejects(
    PgStore.open({ url, instance: "r", reader: true }),
    /no mandrill schema/,
  );
  const a = await open(url, "a");
  await insert(a, ["r-1"]);
  await a.close();
  const reader = await PgStore.open({ url, instance: "r", reader: true });
  assert.equal((await reader.listRequests()).length, 1);
  await reader.close();
  const sql = raw(url);
  await sql`UPDATE mandrill_schema SET version = 99`;
  await sql.end();
  await assert.rejects(open(url, "a"), /schema version 99, newer than this mandrill/);
}]);

steps.push([
  "writes queued while a commit is in flight all land, and wait for their own commit",
  async () => {
    const url = await database();
    const a = await open(url, "a");
    try {
      const n = 400;
      const committed: number[] = [];
      let i = 0;
      // Writes arrive at every moment of the commits the first ones start.
      while (i < n) {
        const k = i++;
        a.putOutage({
          host: `h-${k}`,
          id: `r-${k}`,
          state: "coming_back",
          executor: "local",
          startedAt: 1,
          bootIdBefore: null,
          since: 1,
          interrupted: false,
          detail: null,
        });
        a.afterCommit(() => committed.push(k));
        if (k % 3 === 0) await new Promise((r) => setTimeout(r, 0));
        else await Promise.resolve();
      }
      await a.commitBatch();
      await a.commitBatch();
      const landed = (await a.outages()).length;
      assert.equal(landed, n, `${n - landed} of ${n} writes were lost`);
      assert.deepEqual(
        committed,
        [...Array(n).keys()],
        "a write's callback ran out of order or twice",
      );
    } finally {
      await a.close();
    }
  },
]);

steps.push([
  "intake commits started back to back accept their rows in seq order across commits",
  async () => {
    // The dispatcher takes accepted rows in the order the commits were
    // started and reads the store on from the last seq it took: a later
    // commit's rows must never get lower seqs than an earlier one's.
    const url = await database();
    const a = await open(url, "a");
    try {
      const commits: Promise<{ accepted: InboxRow[] }>[] = [];
      for (let c = 0; c < 40; c++) {
        for (let r = 0; r < 1 + (c % 7) * 20; r++) a.insertRequest(req(`c${c}-${r}`, `h-${r}`), 1);
        commits.push(Promise.resolve(a.commitIntake()));
      }
      const seqs = (await Promise.all(commits)).flatMap((c) => c.accepted.map((r) => r.seq));
      const behind = seqs.filter((s, i) => i > 0 && s < seqs[i - 1]!).length;
      assert.equal(behind, 0, `${behind} rows got a lower seq than a row of an earlier commit`);
      assert.equal(new Set(seqs).size, seqs.length);
    } finally {
      await a.close();
    }
  },
]);

Deno.test("pg store (a real PostgreSQL)", async (t) => {
  server = await Postgres.start();
  try {
    for (const [name, fn] of steps) await t.step(name, fn);
  } finally {
    await server[Symbol.asyncDispose]();
  }
});
