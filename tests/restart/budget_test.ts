import assert from "node:assert/strict";
import { FakeClock } from "../../src/clock.ts";
import { parseConfig } from "../../src/config/mod.ts";
import { budgetLimit } from "../../src/config/fields.ts";
import { FleetView } from "../../src/fleet/mod.ts";
import { buildTopology, UnavailabilityBudget } from "../../src/restart/mod.ts";

/** A budget over `hosts` (name -> group), agents with staleSec 10 where `agent`. */
function budget(
  hosts: Record<string, { group?: string; agent?: boolean }>,
  policy: { maxUnavailable?: number; maxUnavailablePerGroup?: number | string } = {},
) {
  const config = parseConfig({
    executors: {
      agent: { type: "agent", staleSec: 10 },
      local: { type: "command", argv: ["true"] },
    },
    hosts: Object.fromEntries(
      Object.entries(hosts).map(([h, o]) => [h, {
        executor: o.agent ? "agent" : "local",
        ...(o.group ? { group: o.group } : {}),
      }]),
    ),
    policy: { maxUnavailable: 100, maxUnavailablePerGroup: 1, ...policy },
    security: { allowUnsigned: true },
  });
  const fleet = new FleetView();
  const clock = new FakeClock(1_000_000);
  const b = new UnavailabilityBudget({
    topology: () => buildTopology(config, fleet),
    fleet,
    clock,
    limits: () => config.policy,
  });
  const beat = (host: string) =>
    fleet.onHeartbeat({ host, bootId: "b", uptimeSec: 100, version: "t", ts: 0 }, clock.now());
  return { b, fleet, clock, config, beat };
}

Deno.test("budgetLimit: integers as is, percentages of the group rounded down, at least 1", () => {
  assert.equal(budgetLimit(3, 10), 3);
  assert.equal(budgetLimit("25%", 10), 2);
  assert.equal(budgetLimit("50%", 4), 2);
  assert.equal(budgetLimit("10%", 1000), 100);
  assert.equal(budgetLimit("10%", 3), 1);
  assert.equal(budgetLimit("100%", 7), 7);
});

Deno.test("budget: a group at its limit refuses one more, naming what is down; releasing frees it", () => {
  const { b } = budget({ "web-1": { group: "web" }, "web-2": { group: "web" }, "db-1": {} });
  assert.deepEqual(b.check("web-1"), { ok: true });
  b.hold("web-1", "restarting");
  const over = b.check("web-2");
  assert.equal(over.ok, false);
  assert.equal(!over.ok && over.code, "group");
  assert.equal(!over.ok && over.reason, "group web: web-1 restarting (1 of 1 allowed down)");
  assert.deepEqual(b.check("web-1"), { ok: true }, "a host already down adds nothing");
  assert.deepEqual(b.check("db-1"), { ok: true }, "a host without a group is a group of its own");
  b.hold("web-1", "coming_back");
  assert.match(
    !b.check("web-2").ok ? (b.check("web-2") as { reason: string }).reason : "",
    /web-1 coming back/,
  );
  b.hold("web-1", "not_back");
  assert.equal(b.check("web-2").ok, false, "a host that did not come back still counts");
  b.release("web-1");
  assert.deepEqual(b.check("web-2"), { ok: true });
});

Deno.test("budget: the fleet-wide limit counts every group", () => {
  const { b } = budget({ a: {}, b: {}, c: {} }, { maxUnavailable: 2 });
  b.hold("a", "restarting");
  b.hold("b", "coming_back");
  const over = b.check("c");
  assert.equal(!over.ok && over.code, "fleet");
  assert.match(
    !over.ok ? over.reason : "",
    /^fleet: a restarting, b coming back \(2 of maxUnavailable 2 down\)/,
  );
});

Deno.test("budget: a percentage of a group of 4 allows 2 down", () => {
  const hosts = Object.fromEntries(["w1", "w2", "w3", "w4"].map((h) => [h, { group: "web" }]));
  const { b } = budget(hosts, { maxUnavailablePerGroup: "50%" });
  b.hold("w1", "restarting");
  assert.equal(b.check("w2").ok, true);
  b.hold("w2", "restarting");
  assert.equal(b.check("w3").ok, false);
  assert.deepEqual(b.usage(["web"]), [{
    group: "web",
    size: 4,
    limit: 2,
    down: [{ host: "w1", state: "restarting" }, { host: "w2", state: "restarting" }],
  }]);
});

Deno.test("budget: an agent host that is offline, stale or never heard from is down, restarted or not", () => {
  const { b, fleet, clock, beat } = budget({
    "web-1": { group: "web", agent: true },
    "web-2": { group: "web", agent: true },
    "web-3": { group: "web", agent: true },
  }, { maxUnavailablePerGroup: 1 });
  assert.equal(b.stateOf("web-1"), "stale", "never heard from");
  beat("web-1");
  beat("web-2");
  beat("web-3");
  clock.advance(1_000);
  assert.equal(b.stateOf("web-1"), undefined);
  // Its last will: offline at once, no refresh needed.
  fleet.onStatus("web-2", { state: "offline", ts: 0 }, clock.now());
  assert.equal(b.stateOf("web-2"), "offline");
  const over = b.check("web-1");
  assert.equal(!over.ok && over.reason, "group web: web-2 offline (1 of 1 allowed down)");
  beat("web-2"); // back online
  assert.equal(b.check("web-1").ok, true);
  // Quiet for longer than staleSec (10 s): stale, seen at the next refresh.
  clock.advance(11_000);
  beat("web-1");
  beat("web-2");
  assert.equal(b.stateOf("web-3"), "stale");
  assert.equal(b.check("web-1").ok, false);
});

Deno.test("budget: changed() resolves on a change, on its timeout, or on abort", async () => {
  const { b } = budget({ a: {} });
  let resolved = false;
  const waiting = b.changed({ timeoutMs: 60_000 }).then(() => resolved = true);
  await Promise.resolve();
  assert.equal(resolved, false);
  b.hold("a", "restarting");
  await waiting;
  assert.equal(resolved, true);
  const ac = new AbortController();
  const aborted = b.changed({ timeoutMs: 60_000, signal: ac.signal });
  ac.abort();
  await aborted;
  await b.changed({ timeoutMs: 1 });
  b[Symbol.dispose]();
});

Deno.test("budget: a released host wakes one waiting request, in arrival order; one that waits again hands the slot on; leave() too", async () => {
  const { b } = budget({ a: {}, b: {}, c: {} });
  b.hold("a", "restarting");
  const woken: string[] = [];
  const signals = ["w1", "w2", "w3"].map(() => new AbortController().signal);
  const wait = (i: number) =>
    b.changed({ signal: signals[i]!, timeoutMs: 60_000 }).then(() => woken.push(`w${i + 1}`));
  const waits = [wait(0), wait(1), wait(2)];
  const settle = () => new Promise((r) => setTimeout(r, 0));
  await settle();
  b.hold("b", "restarting"); // a host going down frees nothing: nobody wakes
  await settle();
  assert.equal(woken.length, 0, "a host going down woke a waiter");
  b.release("a");
  await waits[0];
  await settle();
  assert.deepEqual(woken, ["w1"], "one release woke more than one waiter");
  // w1 did not take the slot (it waits again): w2 gets it, and w1 keeps waiting.
  const again = b.changed({ signal: signals[0]!, timeoutMs: 60_000 }).then(() =>
    woken.push("w1 again")
  );
  await waits[1];
  await settle();
  assert.deepEqual(woken, ["w1", "w2"]);
  // w2 leaves without waiting again (it started, or was skipped): w3 looks next.
  b.leave(signals[1]!);
  await waits[2];
  await settle();
  assert.deepEqual(woken, ["w1", "w2", "w3"]);
  b.leave(signals[2]!); // the release was handed through every waiter once: it stops there
  await settle();
  assert.deepEqual(woken, ["w1", "w2", "w3"], "the same release woke a waiter twice");
  b.release("b");
  await again;
  assert.deepEqual(woken, ["w1", "w2", "w3", "w1 again"]);
  b.leave(signals[0]!);
  b[Symbol.dispose]();
});
