/**
 * High availability on one PostgreSQL store: several `mandrill run`
 * processes in one shared subscription group, a real PostgreSQL (initdb +
 * pg_ctl), a real Mosquitto, simulated agent hosts and recording commands.
 * The limits are the fleet's, and an instance that dies loses nothing.
 */
import assert from "node:assert/strict";
import { peakDown } from "../_helpers/spans.ts";
import { HaWorld } from "../_helpers/ha_world.ts";
import { waitFor } from "../_helpers/wait.ts";

/** Which instances accepted the requests (their claims, by instance). */
async function acceptedBy(w: HaWorld): Promise<Set<string>> {
  const rows = await w.sql`SELECT DISTINCT split_part(claimed_by, '#', 1) AS i FROM inbox`;
  return new Set(rows.map((r) => r.i as string));
}

/** Every id of `ids` ran at most once; returns how often each ran. */
async function ranAtMostOnce(w: HaWorld): Promise<Map<string, number>> {
  const runs = new Map<string, number>();
  for (const [, id] of await w.executions()) runs.set(id, (runs.get(id) ?? 0) + 1);
  const twice = [...runs].filter(([, n]) => n > 1).map(([id]) => id);
  assert.deepEqual(twice, [], "requests executed more than once");
  return runs;
}

Deno.test("ha: three instances, six hosts of one group with maxUnavailablePerGroup 1 requested at once — never two down (measured by the agents), each restarted once", async () => {
  const hosts = ["web-1", "web-2", "web-3", "web-4", "web-5", "web-6"];
  await using w = await HaWorld.start({
    instances: 3,
    agentHosts: Object.fromEntries(hosts.map((h) => [h, "web"])),
    rebootSec: [1, 1],
    policy: { maxUnavailablePerGroup: 1, minIntervalSec: 0, maxWaitSec: 300 },
  });
  await w.request(hosts.map((h, i) => [`r-${i}`, h]));
  await waitFor(() => w.events.phase("recovered").length === 6, {
    what: "all six recovered",
    timeoutMs: 90_000,
  });
  const spans = [...w.fleet!.hosts.values()].flatMap((h) => h.downs);
  assert.equal(spans.length, 6, "each host went down once");
  assert.equal(peakDown(spans), 1, "two hosts of the group were down at once");
  for (const h of w.fleet!.hosts.values()) assert.equal(h.restarts.length, 1, `${h.host} restarts`);
  assert.ok((await acceptedBy(w)).size >= 2, "the requests did not go through several instances");
  const inbox = await w.inbox();
  for (let i = 0; i < 6; i++) assert.equal(inbox.get(`r-${i}`)?.outcome, "succeeded");
});

Deno.test("ha: maxPerHour 5 with 20 requests spread over three instances — exactly 5 started fleet-wide", async () => {
  const hosts = Array.from({ length: 20 }, (_, i) => `h-${i}`);
  await using w = await HaWorld.start({
    instances: 3,
    commandHosts: Object.fromEntries(hosts.map((h) => [h, undefined])),
    policy: { maxPerHour: 5, minIntervalSec: 0, maxUnavailable: 20 },
  });
  const ids = hosts.map((_, i) => `r-${i}`);
  await w.request(hosts.map((h, i) => [ids[i]!, h]));
  await w.allDone(ids);
  const inbox = await w.inbox();
  const outcomes = ids.map((id) => inbox.get(id)!.outcome);
  assert.equal(outcomes.filter((o) => o === "succeeded").length, 5, JSON.stringify(outcomes));
  assert.equal(outcomes.filter((o) => o === "skipped").length, 15);
  assert.equal((await w.executions()).length, 5, "executions fleet-wide");
  const skipped = await w.sql`SELECT detail FROM inbox WHERE outcome = 'skipped'`;
  for (const r of skipped) assert.match(r.detail as string, /maxPerHour/);
  assert.equal((await acceptedBy(w)).size, 3, "the requests did not go through all three");
});

Deno.test("ha: kill -9 of one instance in a burst of 1,500 — every request ends once, none lost, none twice; its hosts coming back are reported recovered by a survivor", async () => {
  const commandHosts = Object.fromEntries(
    Array.from({ length: 100 }, (_, i) => [`web-${i}`, undefined]),
  );
  await using w = await HaWorld.start({
    instances: 3,
    agentHosts: { "a-1": "a", "a-2": "b" },
    commandHosts,
    rebootSec: [8, 8],
    leaseSec: 2,
    policy: { minIntervalSec: 0, maxUnavailable: 50, maxWaitSec: 300, maxPerHour: 100_000 },
  });
  // Two hosts coming back for a while, then the burst.
  await w.request([["agent-1", "a-1"], ["agent-2", "a-2"]]);
  const owner = await waitFor(async () => {
    const rows = await w.sql`SELECT host, owner, state FROM outage WHERE host = 'a-1'`;
    return rows[0]?.state === "coming_back" ? String(rows[0].owner).split("#")[0] : undefined;
  }, { what: "a-1 coming back", timeoutMs: 30_000 });
  const victim = Number(owner!.replace("mandrill-", ""));
  const ids = Array.from({ length: 1500 }, (_, i) => `b-${i}`);
  await w.request(ids.map((id, i) => [id, `web-${i % 100}`]));
  await waitFor(async () => {
    const [r] = await w.sql`SELECT count(*)::int AS n FROM inbox WHERE state = 'done'`;
    return Number(r!.n) >= 300;
  }, { what: "300 requests done", timeoutMs: 60_000, intervalMs: 50 });
  await w.kill9(victim);
  const survivors = [0, 1, 2].filter((i) => i !== victim);

  // What the victim had accepted ends on the survivors: executed, interrupted or skipped.
  const accepted = (await w.sql`
    SELECT id FROM inbox WHERE split_part(claimed_by, '#', 1) = ${owner!}`).map((r) =>
    r.id as string
  );
  assert.ok(accepted.length > 0, "the victim had accepted nothing");
  await w.allDone([...accepted, "agent-1", "agent-2"]);
  await waitFor(() => w.events.phase("recovered").some((e) => e.id === "agent-1"), {
    what: "a-1 reported recovered",
    timeoutMs: 60_000,
  });
  const watcher = survivors.find((i) =>
    w.runs[i]!.lines.some((l) => /Watching 1 hosts left coming back/.test(l))
  );
  assert.notEqual(watcher, undefined, "no survivor took over watching a-1");

  // What the broker still held for the victim's session arrives when it is back.
  await w.startInstance(victim);
  await w.allDone(ids);
  const inbox = await w.inbox();
  const runs = await ranAtMostOnce(w);
  const ends: Record<string, number> = {};
  for (const id of ids) {
    const row = inbox.get(id);
    assert.equal(row?.state, "done", `${id} not done`);
    ends[row!.outcome!] = (ends[row!.outcome!] ?? 0) + 1;
    if (runs.has(id)) {
      assert.ok(
        row!.outcome === "succeeded" || row!.outcome === "interrupted",
        `${id} ran but ended ${row!.outcome}`,
      );
    } else {
      assert.ok(row!.outcome !== "succeeded", `${id} succeeded without running`);
    }
  }
  const skipped = await w.sql`
    SELECT count(*)::int AS n FROM inbox WHERE outcome = 'skipped' AND coalesce(detail, '') = ''`;
  assert.equal(skipped[0]!.n, 0, "a request was skipped without a reason");
  assert.ok((ends.succeeded ?? 0) >= 1400, `ends: ${JSON.stringify(ends)}`);
});

Deno.test("ha: PostgreSQL stopped for 10 s during a burst — /readyz 503 meanwhile, nothing acknowledged that was not stored, everything executed exactly once after", async () => {
  const commandHosts = Object.fromEntries(
    Array.from({ length: 30 }, (_, i) => [`web-${i}`, undefined]),
  );
  await using w = await HaWorld.start({
    instances: 2,
    commandHosts,
    policy: { minIntervalSec: 0, maxUnavailable: 30, maxWaitSec: 600, maxPerHour: 100_000 },
    // Longer than the outage: nobody is taken for gone meanwhile.
    leaseSec: 15,
  });
  const first = Array.from({ length: 300 }, (_, i) => `p-${i}`);
  await w.request(first.map((id, i) => [id, `web-${i % 30}`]));
  await waitFor(async () => {
    const [r] = await w.sql`SELECT count(*)::int AS n FROM inbox WHERE state = 'done'`;
    return Number(r!.n) >= 50;
  }, { what: "50 requests done", timeoutMs: 60_000, intervalMs: 20 });
  await w.pg.stop();
  const stoppedAt = Date.now();
  // Published while the database is down: nobody may acknowledge them before they are stored.
  const during = Array.from({ length: 100 }, (_, i) => `q-${i}`);
  await w.request(during.map((id, i) => [id, `web-${i % 30}`]));
  await waitFor(async () => {
    const codes = [await w.readyz(0), await w.readyz(1)];
    return codes.every((c) => c === 503);
  }, {
    what: "/readyz 503 on both instances",
    timeoutMs: 8_000,
  });
  await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - stoppedAt))));
  assert.equal(await w.readyz(0), 503, "ready again while the database is down");
  await w.pg.start();
  await w.reconnectSql();
  await w.allDone([...first, ...during], 120_000);
  await waitFor(async () => (await w.readyz(0)) === 200 && (await w.readyz(1)) === 200, {
    what: "/readyz 200 again",
    timeoutMs: 20_000,
  });
  const runs = await ranAtMostOnce(w);
  const inbox = await w.inbox();
  for (const id of [...first, ...during]) {
    const row = inbox.get(id);
    assert.equal(row?.state, "done", `${id} lost`);
    assert.equal(row?.outcome, "succeeded", `${id}: ${row?.outcome}`);
    assert.equal(runs.get(id), 1, `${id} ran ${runs.get(id) ?? 0} times`);
  }
});

Deno.test("ha: one chaos group across three instances — one restart per scheduled pick, not three", async () => {
  const hosts = Array.from({ length: 6 }, (_, i) => `web-${i}`);
  await using w = await HaWorld.start({
    instances: 3,
    commandHosts: Object.fromEntries(hosts.map((h) => [h, "web"])),
    policy: { minIntervalSec: 0, maxUnavailable: 6, maxUnavailablePerGroup: 6 },
    extra: {
      chaos: {
        enabled: true,
        leashed: false,
        tickSec: 0.5,
        groups: { web: { meanTimeBetweenRestarts: "2s", minTimeBetweenRestarts: "2s" } },
      },
    },
  });
  await waitFor(async () => {
    const [r] = await w.sql`SELECT count(*)::int AS n FROM inbox WHERE id LIKE 'chaos-%'`;
    return Number(r!.n) >= 4;
  }, { what: "four chaos picks", timeoutMs: 30_000, intervalMs: 100 });
  const rows = await w.sql`
    SELECT id, received_at, split_part(claimed_by, '#', 1) AS i FROM inbox
    WHERE id LIKE 'chaos-%' ORDER BY received_at`;
  const times = rows.map((r) => Number(r.received_at));
  for (let i = 1; i < times.length; i++) {
    assert.ok(
      times[i]! - times[i - 1]! >= 1_900,
      `two chaos picks ${times[i]! - times[i - 1]!} ms apart: ${rows.map((r) => r.id).join(", ")}`,
    );
  }
  const executions = (await w.executions()).filter(([, id]) => id.startsWith("chaos-"));
  assert.ok(executions.length <= rows.length);
});

Deno.test("ha: two instances on one store without a shared group — the later one says so at ERROR, and a request both receive runs once", async () => {
  await using w = await HaWorld.start({
    instances: 2,
    sharedGroup: null,
    commandHosts: { "web-1": undefined },
  });
  const warned = await waitFor(
    () =>
      w.runs.some((r) =>
        r!.lines.some((l) => /outside this instance's shared subscription group/.test(l))
      ),
    { what: "the ERROR about the other instance", timeoutMs: 10_000 },
  );
  assert.ok(warned);
  const line = w.runs.flatMap((r) => r!.lines).find((l) =>
    /outside this instance's shared subscription group/.test(l)
  )!;
  assert.equal(JSON.parse(line).level, "ERROR");
  assert.match(line, /mandrill-[01]/);
  await w.request([["once-1", "web-1"]]);
  await w.allDone(["once-1"]);
  // Both instances got it; the second found the id already stored.
  await waitFor(
    () => w.events.events.filter((e) => e.id === "once-1" && e.phase === "received").length >= 1,
    {
      what: "received",
    },
  );
  assert.deepEqual(await w.executions(), [["web-1", "once-1"]]);
  assert.equal((await w.inbox()).get("once-1")?.outcome, "succeeded");
});

Deno.test("ha: the breaker counts every instance's failures — one failed restart on each of two instances trips it (failures: 2)", async () => {
  await using w = await HaWorld.start({
    instances: 2,
    failingHosts: ["f-1", "f-2"],
    commandHosts: { "web-1": undefined },
    policy: { minIntervalSec: 0, breaker: { failures: 2, withinSec: 3600 } },
  });
  await w.request([["f-a", "f-1"]]);
  await w.allDone(["f-a"]);
  await w.request([["f-b", "f-2"]]);
  await w.allDone(["f-b"]);
  const [a, b] = await w.sql`SELECT split_part(claimed_by, '#', 1) AS i FROM inbox ORDER BY seq`;
  assert.notEqual(a!.i, b!.i, "both failures went through one instance: the test proves nothing");
  await waitFor(
    () => w.runs.some((r) => r!.lines.some((l) => /Breaker tripped/.test(l))),
    { what: "the breaker to trip", timeoutMs: 10_000 },
  );
  // Paused everywhere: a later request is skipped as paused, nothing runs.
  await w.request([["after-1", "web-1"]]);
  await w.allDone(["after-1"]);
  const [row] = await w.sql`SELECT outcome, detail FROM inbox WHERE id = 'after-1'`;
  assert.equal(row!.outcome, "skipped");
  assert.match(String(row!.detail), /paused.*breaker: 2 restarts failed/);
  assert.deepEqual(await w.executions(), []);
});
