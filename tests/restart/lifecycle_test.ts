/**
 * A restart's life through the core (gate, budget, restarts' owner, recovery
 * tracking), with fake executors and a real health-check command.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../src/clock.ts";
import { FakeExecutor } from "../../src/executors/fake.ts";
import { SqliteStore } from "../../src/store/mod.ts";
import { hostsConfig } from "../_helpers/config.ts";
import { waitFor } from "../_helpers/wait.ts";
import { core } from "./_harness.ts";

/** A health check that passes for a host once `{dir}/{host}` exists. */
function healthCheck(dir: string) {
  return { argv: ["sh", "-c", `test -e '${dir}/'"$1"`, "sh"], timeoutSec: 5 };
}

function config(dir: string, policy: Record<string, unknown> = {}, hosts = 3) {
  return {
    executors: {
      fake: { type: "command" as const, argv: ["true"], healthCheck: healthCheck(dir) },
    },
    hosts: hostsConfig(hosts, { executor: "fake", group: () => "web" }),
    policy: { minIntervalSec: 0, maxPerHour: 10_000, maxUnavailablePerGroup: 1, ...policy },
    recovery: { probeIntervalSec: 0.05, probeMaxIntervalSec: 0.2, timeoutSec: 60 },
  };
}

Deno.test("restarts: a request waits for its group while a host is coming back, and starts once it is back", async () => {
  const dir = await Deno.makeTempDir();
  const executor = new FakeExecutor();
  await using h = core({ config: config(dir), executors: { fake: executor } });
  h.submit("r-0", "web-0");
  await waitFor(() => h.events.phase("succeeded").length === 1);
  assert.equal(h.budget.stateOf("web-0"), "coming_back");
  h.submit("r-1", "web-1");
  await waitFor(() => h.dispatcher.waitingCounts().group === 1, { what: "r-1 to wait" });
  assert.match(
    h.dispatcher.inFlight()[0]?.waitingFor ?? "",
    /^group web: web-0 coming back \(1 of 1 allowed down\)$/,
  );
  assert.equal(executor.calls.length, 1, "web-1 restarted while web-0 was coming back");
  await Deno.writeTextFile(`${dir}/web-0`, "");
  await waitFor(() => h.events.phase("recovered").length === 1, { what: "web-0 back" });
  await waitFor(() => executor.calls.length === 2, { what: "r-1 to start" });
  assert.deepEqual(executor.calls.map((c) => c.req.id), ["r-0", "r-1"]);
  assert.equal(h.store.historyGet("r-0")?.recoveryMs !== null, true);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("restarts: past maxWaitSec a waiting request is skipped, naming the group and what is down", async () => {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock();
  await using h = core({
    config: config(dir, { maxWaitSec: 5 }),
    executors: { fake: new FakeExecutor() },
    clock,
  });
  h.submit("r-0", "web-0");
  await waitFor(() => h.events.phase("succeeded").length === 1);
  h.submit("r-1", "web-1");
  await waitFor(() => h.dispatcher.waitingCounts().group === 1);
  clock.advance(5_000);
  const skipped = await waitFor(() => h.events.phase("skipped").find((e) => e.id === "r-1"));
  assert.equal(
    skipped.detail,
    "waited 5s for the budget (maxWaitSec 5): group web: web-0 coming back (1 of 1 allowed down)",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("restarts: a chaos request never waits for the budget", async () => {
  const dir = await Deno.makeTempDir();
  const executor = new FakeExecutor();
  await using h = core({ config: config(dir), executors: { fake: executor } });
  h.submit("r-0", "web-0");
  await waitFor(() => h.events.phase("succeeded").length === 1);
  h.submit("chaos-1", "web-1", { requestedBy: "chaos" });
  const skipped = await waitFor(() => h.events.phase("skipped").find((e) => e.id === "chaos-1"));
  assert.match(skipped.detail ?? "", /^chaos does not wait for the budget: group web: web-0/);
  assert.equal(executor.calls.length, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("restarts: a reload that lowers maxUnavailablePerGroup applies to requests already waiting", async () => {
  const dir = await Deno.makeTempDir();
  const gate = Promise.withResolvers<void>();
  let running = 0;
  let peakAfterReload = 0;
  let reloaded = false;
  const executor = new FakeExecutor({
    outcome: async (req) => {
      const late = Number(req.id.split("-")[1]) >= 20;
      running++;
      if (late && reloaded) peakAfterReload = Math.max(peakAfterReload, running);
      if (late) await new Promise((r) => setTimeout(r, 5));
      else await gate.promise;
      running--;
      return { kind: "ok" };
    },
  });
  const input = {
    ...config(dir, { maxUnavailable: 100, maxUnavailablePerGroup: 20 }, 60),
    executors: { fake: { type: "command" as const, argv: ["true"] } },
  };
  await using h = core({ config: input, executors: { fake: executor } });
  for (let i = 0; i < 60; i++) h.submit(`r-${i}`, `web-${i}`);
  await executor.waitForRunning(20);
  await waitFor(() => h.dispatcher.waitingCounts().group === 40);
  h.reload({ ...input, policy: { ...input.policy, maxUnavailablePerGroup: 2 } });
  reloaded = true;
  gate.resolve();
  await waitFor(() => h.events.phase("succeeded").length === 60, { timeoutMs: 20_000 });
  assert.equal(executor.maxRunning, 20, "the first 20 ran together");
  assert.equal(peakAfterReload, 2, `after the reload, ${peakAfterReload} ran at once`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("restarts: hosts coming back are in the store; after a restart of mandrill they still count and are still reported back", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/m.db`;
  const input = config(dir, { maxUnavailablePerGroup: 2 });
  {
    await using h = core({
      config: input,
      executors: { fake: new FakeExecutor() },
      store: SqliteStore.open(path),
    });
    h.submit("r-0", "web-0");
    h.submit("r-1", "web-1");
    await waitFor(() => h.events.phase("succeeded").length === 2);
    assert.deepEqual(
      h.store.outages().map((o) => [o.host, o.state]),
      [["web-0", "coming_back"], ["web-1", "coming_back"]],
    );
  } // mandrill stops; both hosts are still coming back
  const executor = new FakeExecutor();
  await using h = core({
    config: input,
    executors: { fake: executor },
    store: SqliteStore.open(path),
  });
  await h.resumed;
  assert.equal(h.budget.stateOf("web-0"), "coming_back");
  h.submit("r-2", "web-2");
  await waitFor(() => h.dispatcher.waitingCounts().group === 1, { what: "r-2 to wait" });
  await Deno.writeTextFile(`${dir}/web-1`, "");
  await waitFor(() => executor.calls.length === 1, { what: "r-2 to start once web-1 is back" });
  await Deno.writeTextFile(`${dir}/web-0`, "");
  await waitFor(() => h.events.phase("recovered").length === 2);
  assert.deepEqual(h.events.phase("recovered").map((e) => e.id).sort(), ["r-0", "r-1"]);
  assert.equal(typeof h.store.historyGet("r-0")?.recoveryMs, "number");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("restarts: the breaker engages the kill switch after too many failures; later requests are skipped", async () => {
  const dir = await Deno.makeTempDir();
  const executor = new FakeExecutor({ outcome: { kind: "exit", code: 1, detail: "boom" } });
  const input = { ...config(dir, { maxUnavailablePerGroup: 10 }, 5) };
  await using h = core({ config: input, executors: { fake: executor } });
  for (let i = 0; i < 3; i++) h.submit(`r-${i}`, `web-${i}`);
  await waitFor(() => h.events.phase("failed").length === 3);
  assert.deepEqual(h.trips, [
    "breaker: 3 restarts failed within 3600s (web-0, web-1, web-2)",
  ]);
  h.submit("r-3", "web-3");
  const skipped = await waitFor(() => h.events.phase("skipped").find((e) => e.id === "r-3"));
  assert.match(skipped.detail ?? "", /^paused: breaker: 3 restarts failed/);
  assert.equal(executor.calls.length, 3);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("restarts: a timeout leaves the host's state unknown: it is held until it shows a sign of life", async () => {
  const dir = await Deno.makeTempDir();
  const executor = new FakeExecutor({ outcome: { kind: "timeout", detail: "slow" } });
  await using h = core({ config: config(dir), executors: { fake: executor } });
  h.submit("r-0", "web-0");
  await waitFor(() => h.events.phase("failed").length === 1);
  assert.equal(h.budget.stateOf("web-0"), "coming_back");
  await Deno.writeTextFile(`${dir}/web-0`, "");
  await waitFor(() => h.budget.stateOf("web-0") === undefined, { what: "web-0 released" });
  assert.deepEqual(h.events.phase("recovered"), [], "no recovered event after a failed restart");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("restarts: waiting for a probe slot before an SSH restart is bounded by probeTimeoutSec, never eating the restart's timeoutSec", async () => {
  // One probe slot; every boot-id probe takes its whole time limit (a host that never answers).
  const probeLimits: number[] = [];
  const fake = Object.assign(new FakeExecutor(), {
    async probeBootId(req: { timeoutMs?: number }) {
      probeLimits.push(req.timeoutMs ?? Infinity);
      await new Promise((r) => setTimeout(r, req.timeoutMs));
      return { kind: "timeout" as const, detail: "no answer" };
    },
  });
  await using c = core({
    config: {
      executors: {
        ssh: {
          type: "ssh" as const,
          user: "root",
          command: ["true"],
          timeoutSec: 4,
        },
      },
      hosts: hostsConfig(3, { executor: "ssh" }),
      policy: { minIntervalSec: 0, maxPerHour: 10_000, maxUnavailable: 3 },
      recovery: { maxProbes: 1, probeTimeoutSec: 0.5 },
    },
    executors: { ssh: fake },
    clock: { now: () => Date.now() },
  });
  for (let i = 0; i < 3; i++) c.submit(`r-${i}`, `web-${i}`);
  await waitFor(() => fake.calls.length === 3, { what: "three restarts", timeoutMs: 10_000 });
  // Each got the executor's 4 s less at most the 0.5 s probe window (queueing for the slot included).
  for (const call of fake.calls) {
    assert.ok(
      (call.req.timeoutMs ?? 0) >= 3_400,
      `${call.req.host}'s restart got ${call.req.timeoutMs} ms of its 4,000`,
    );
  }
  assert.ok(probeLimits.every((ms) => ms <= 500), `probe limits ${probeLimits}`);
});
