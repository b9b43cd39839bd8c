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

/** Lets microtasks and ready callbacks run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

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

Deno.test("budget: an agent host's first heartbeat makes it available at once, without waiting for a refresh", () => {
  const { b, beat } = budget({ "web-1": { agent: true }, "web-2": { agent: true } });
  assert.equal(b.stateOf("web-1"), "stale", "never heard from");
  assert.equal(b.unavailable().size, 2);
  beat("web-1");
  assert.equal(b.stateOf("web-1"), undefined);
  assert.deepEqual([...b.unavailable()], [["web-2", "stale"]]);
});

Deno.test("budget.wait() resolves on its turn, on its timeout, or on abort", async () => {
  const { b } = budget({ a: {}, c: {} }, { maxUnavailable: 1 });
  b.hold("a", "restarting");
  let resolved = false;
  const ac = new AbortController();
  const waiting = b.wait("c", { signal: ac.signal, timeoutMs: 60_000 }).then(() => resolved = true);
  await settle();
  assert.equal(resolved, false, "resolved while the fleet was full");
  b.release("a");
  await waiting;
  assert.equal(b.stateOf("c"), "restarting", "its turn did not reserve its host");
  b.leave(ac.signal);
  assert.equal(b.stateOf("c"), undefined, "leaving kept the reservation");
  const aborter = new AbortController();
  b.hold("a", "restarting");
  const aborted = b.wait("c", { signal: aborter.signal, timeoutMs: 60_000 });
  aborter.abort();
  await aborted;
  assert.equal(b.waiting, 0, "an aborted waiter stayed in the queue");
  await b.wait("c", { signal: new AbortController().signal, timeoutMs: 1 });
  b[Symbol.dispose]();
});

Deno.test("budget: a freed slot goes to the first waiter that fits, in arrival order, reserved until it starts — never to two", async () => {
  const { b } = budget({
    "web-1": { group: "web" },
    "web-2": { group: "web" },
    "web-3": { group: "web" },
    "db-1": { group: "db" },
    "db-2": { group: "db" },
  }, { maxUnavailable: 2 });
  b.hold("web-1", "restarting");
  b.hold("db-1", "restarting");
  const woken: string[] = [];
  const waiters = ["web-2", "web-3", "db-2"].map((host) => {
    const ac = new AbortController();
    const done = b.wait(host, { signal: ac.signal, timeoutMs: 60_000 }).then(() =>
      woken.push(host)
    );
    return { host, signal: ac.signal, done };
  });
  b.hold("web-1", "coming_back"); // a change that frees nothing wakes nobody
  await settle();
  assert.deepEqual(woken, []);
  b.release("db-1"); // web's waiters do not fit (web-1 still down): db-2 gets the slot
  await waiters[2]!.done;
  await settle();
  assert.deepEqual(woken, ["db-2"]);
  assert.equal(b.check("web-2").ok, false, "the reserved slot was counted for nobody");
  b.release("web-1"); // fleet: db-2 reserved + web-2 = 2: web-2 fits, web-3 does not (group)
  await waiters[0]!.done;
  await settle();
  assert.deepEqual(woken, ["db-2", "web-2"], "one freed slot went to two waiters");
  // web-2 starts: its hold takes over from the reservation; nothing frees.
  b.hold("web-2", "restarting");
  b.leave(waiters[0]!.signal);
  await settle();
  assert.deepEqual(woken, ["db-2", "web-2"]);
  // db-2 leaves without starting (skipped): its slot frees, but web-3's group is full.
  b.leave(waiters[2]!.signal);
  await settle();
  assert.deepEqual(woken, ["db-2", "web-2"]);
  b.release("web-2");
  await waiters[1]!.done;
  assert.deepEqual(woken, ["db-2", "web-2", "web-3"]);
  b.leave(waiters[1]!.signal);
  b[Symbol.dispose]();
});

Deno.test("budget: a turn that did not become a start goes to the next waiter; the first rests until it waits again", async () => {
  const { b } = budget({ a: {}, b: {}, c: {} }, { maxUnavailable: 1 });
  b.hold("a", "restarting");
  const woken: string[] = [];
  const [first, second] = [new AbortController(), new AbortController()];
  let done = b.wait("b", { signal: first.signal, timeoutMs: 60_000 }).then(() => woken.push("b"));
  const next = b.wait("c", { signal: second.signal, timeoutMs: 60_000 }).then(() =>
    woken.push("c")
  );
  b.release("a");
  await done;
  await settle();
  assert.deepEqual(woken, ["b"]);
  // b's start was refused elsewhere (another instance): it waits again and hands its turn on.
  done = b.wait("b", { signal: first.signal, timeoutMs: 60_000 }).then(() => woken.push("b again"));
  await next;
  await settle();
  assert.deepEqual(woken, ["b", "c"]);
  assert.equal(b.stateOf("b"), undefined, "the turn it gave up is still counted");
  b.leave(second.signal); // c is skipped: b rests, so nobody is admitted
  await settle();
  assert.deepEqual(woken, ["b", "c"], "a resting waiter was admitted");
  b.leave(first.signal);
  await done;
  b[Symbol.dispose]();
});
