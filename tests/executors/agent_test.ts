import assert from "node:assert/strict";
import { FakeClock } from "../../src/clock.ts";
import { topics } from "../../src/contract/topics.ts";
import { AgentExecutor, type AgentExecutorOptions } from "../../src/executors/agent.ts";
import { FleetView } from "../../src/fleet/mod.ts";
import { listenerCounter, probe, withFakeTime } from "../async/_helpers.ts";
import { FakeMqtt } from "../_helpers/fake_mqtt.ts";
import { CommandSigner, SignatureVerifier } from "../../src/security/mod.ts";

const T = topics("mandrill");

/** An executor whose fleet has web-1 heartbeating now (boot b1). */
function setup(options: Partial<AgentExecutorOptions> = {}) {
  const conn = new FakeMqtt();
  const fleet = new FleetView();
  const clock = new FakeClock();
  fleet.onHeartbeat(
    { host: "web-1", bootId: "b1", uptimeSec: 100, version: "0.1.0", ts: 0 },
    clock.now(),
  );
  const executor = new AgentExecutor({ conn, topics: T, fleet, clock, ...options });
  return { conn, fleet, clock, executor };
}

/** Waits until the fake connection saw `n` publications (microtasks; a signature takes a turn). */
async function published(conn: FakeMqtt, n: number): Promise<void> {
  for (let i = 0; i < 100 && conn.published.length < n; i++) await Promise.resolve();
  for (let i = 0; i < 50 && conn.published.length < n; i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.ok(conn.published.length >= n, `expected ${n} publications`);
}

Deno.test("AgentExecutor publishes the command at QoS 1, valid for its timeout, and resolves ok on an ok result", async () => {
  const { conn, executor, clock } = setup();
  const p = executor.execute({ id: "r-1", host: "web-1", reason: "stuck" });
  await published(conn, 1);
  const now = clock.now();
  assert.deepEqual(conn.published[0], {
    topic: "mandrill/agents/web-1/commands",
    payload: JSON.stringify({
      id: "r-1",
      action: "restart",
      host: "web-1",
      issuedAt: now,
      expiresAt: now + 30_000,
      reason: "stuck",
    }),
    qos: 1,
    retain: false,
  });
  assert.equal(executor.pending, 1);
  executor.handleResult("web-1", { id: "r-1", ok: true, detail: "rebooting" });
  assert.deepEqual(await p, { kind: "ok", detail: "rebooting" });
  assert.equal(executor.pending, 0);
});

Deno.test("AgentExecutor signs every command with its signer; the agent's verifier accepts it", async () => {
  const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const signer = CommandSigner.fromKey(keys.privateKey);
  const { conn, executor, clock } = setup({ signer });
  const p = executor.execute({ id: "r-1", host: "web-1" });
  await published(conn, 1);
  const sent = JSON.parse(conn.published[0]!.payload);
  assert.equal(typeof sent.sig, "string");
  const verifier = SignatureVerifier.fromKey(keys.publicKey);
  const expect = { host: "web-1", now: clock.now(), maxClockSkewSec: 60 };
  assert.deepEqual(await verifier.verifyCommand(sent, expect), { ok: true });
  const forged = { ...sent, host: "web-2" };
  assert.equal((await verifier.verifyCommand(forged, { ...expect, host: "web-2" })).ok, false);
  executor.handleResult("web-1", { id: "r-1", ok: true });
  assert.deepEqual(await p, { kind: "ok" });
});

Deno.test("AgentExecutor maps ok:false to exit 1 with the agent's detail", async () => {
  const { conn, executor } = setup();
  const p = executor.execute({ id: "r-1", host: "web-1" });
  await published(conn, 1);
  assert.equal(JSON.parse(conn.published[0]!.payload).reason, undefined);
  executor.handleResult("web-1", { id: "r-1", ok: false, detail: "reboot exited with 1" });
  assert.deepEqual(await p, {
    kind: "exit",
    code: 1,
    detail: "agent on web-1 failed: reboot exited with 1",
  });
});

Deno.test("AgentExecutor accepts a result that arrives before the broker's ack", async () => {
  const { conn, executor } = setup();
  conn.holdPublishes = true;
  const p = executor.execute({ id: "r-1", host: "web-1" });
  executor.handleResult("web-1", { id: "r-1", ok: true });
  assert.deepEqual(await p, { kind: "ok" });
});

Deno.test("AgentExecutor fails fast, publishing nothing, when the agent cannot take a command", async (t) => {
  await t.step("never heard of", async () => {
    const { conn, executor } = setup();
    const o = await executor.execute({ id: "r-1", host: "web-9" });
    assert.equal(o.kind, "connect");
    assert.match(o.kind === "connect" ? o.detail : "", /no agent known for web-9/);
    assert.equal(conn.published.length, 0);
  });
  await t.step("offline through its last will", async () => {
    const { conn, fleet, clock, executor } = setup();
    clock.advance(1_000);
    fleet.onStatus("web-1", { state: "offline", ts: 0 }, clock.now());
    const o = await executor.execute({ id: "r-1", host: "web-1" });
    assert.deepEqual(o, {
      kind: "connect",
      detail: "agent on web-1 is offline (last will or shutdown at 2026-01-01T00:00:01.000Z)",
    });
    assert.equal(conn.published.length, 0);
  });
  await t.step("heartbeat older than staleSec", async () => {
    const { conn, clock, executor } = setup({ staleSec: 90 });
    clock.advance(90_000);
    const fresh = executor.execute({ id: "r-0", host: "web-1" });
    await published(conn, 1);
    executor.handleResult("web-1", { id: "r-0", ok: true });
    assert.equal((await fresh).kind, "ok", "exactly staleSec old is still fresh");
    clock.advance(30_000);
    const o = await executor.execute({ id: "r-1", host: "web-1" });
    assert.deepEqual(o, {
      kind: "connect",
      detail: "no heartbeat from web-1 for 120s (staleSec 90)",
    });
    assert.equal(conn.published.length, 1);
  });
  await t.step(
    "online status but no heartbeat yet: waits for one up to staleSec after the start",
    async () => {
      await withFakeTime(async (time) => {
        const { conn, fleet, clock, executor } = setup();
        fleet.onStatus("web-2", { state: "online", bootId: "x", ts: 0 }, clock.now());
        // Its heartbeat arrives while the command waits: it is sent.
        const waiting = probe(executor.execute({ id: "r-0", host: "web-2" }));
        await time.tickAsync(500); // ten of the executor's 50 ms polls
        assert.equal(waiting.state, "pending");
        assert.equal(time.countTimers(), 1, "polling for the heartbeat");
        assert.equal(conn.published.length, 0, "sent before any heartbeat");
        fleet.onHeartbeat(
          { host: "web-2", bootId: "x", uptimeSec: 5, version: "v", ts: 0 },
          clock.now(),
        );
        await time.tickAsync(50); // the next poll sees it
        assert.equal(conn.published.length, 1, "not sent after the heartbeat");
        executor.handleResult("web-2", { id: "r-0", ok: true });
        await time.tickAsync(0);
        assert.equal(waiting.value?.kind, "ok");
        // Another host, heard of only by its status: past staleSec since the start, it fails.
        fleet.onStatus("web-3", { state: "online", bootId: "y", ts: 0 }, clock.now());
        const late = probe(executor.execute({ id: "r-1", host: "web-3" }));
        clock.advance(90_000);
        await time.tickAsync(50);
        assert.deepEqual(late.value, {
          kind: "connect",
          detail: "no heartbeat from web-3 yet (staleSec 90)",
        });
        assert.equal(conn.published.length, 1);
      });
    },
  );
});

Deno.test("AgentExecutor rejects invalid hosts and ids and a second command with an id in flight", async () => {
  const { conn, executor } = setup();
  assert.equal((await executor.execute({ id: "r-1", host: "web-1;reboot" })).kind, "rejected");
  assert.equal((await executor.execute({ id: "bad id", host: "web-1" })).kind, "rejected");
  const first = executor.execute({ id: "r-1", host: "web-1" });
  const second = await executor.execute({ id: "r-1", host: "web-1" });
  assert.deepEqual(second, {
    kind: "rejected",
    detail: "a command with id r-1 is already in flight",
  });
  executor.handleResult("web-1", { id: "r-1", ok: true });
  assert.equal((await first).kind, "ok");
  assert.equal(conn.published.length, 1);
});

Deno.test("AgentExecutor times out after timeoutSec and drops the late result", async () => {
  await withFakeTime(async (clock) => {
    const { conn, executor } = setup({ timeoutSec: 30 });
    const p = probe(executor.execute({ id: "r-1", host: "web-1" }));
    await clock.tickAsync(29_999);
    assert.equal(p.state, "pending");
    await clock.tickAsync(1);
    assert.deepEqual(p.value, {
      kind: "timeout",
      detail: "no result from the agent on web-1 within 30 s",
    });
    assert.equal(executor.pending, 0);
    executor.handleResult("web-1", { id: "r-1", ok: true }); // late: logged and dropped
    assert.equal(conn.published.length, 1);
  });
});

Deno.test("AgentExecutor's timeout says when the broker never acknowledged the command", async () => {
  await withFakeTime(async (clock) => {
    const { conn, executor } = setup({ timeoutSec: 5 });
    conn.holdPublishes = true;
    const p = probe(executor.execute({ id: "r-1", host: "web-1" }));
    await clock.tickAsync(5_000);
    assert.equal(p.value?.kind, "timeout");
    assert.match(p.value?.kind === "timeout" ? p.value.detail : "", /never acknowledged/);
  });
});

Deno.test("AgentExecutor: an abort ends the wait with aborted and leaves no listener or timer", async () => {
  await withFakeTime(async (clock) => {
    const { conn, executor } = setup();
    const ac = new AbortController();
    const p = probe(executor.execute({ id: "r-1", host: "web-1" }, ac.signal));
    await clock.tickAsync(1_000);
    ac.abort(new Error("grace period over"));
    await clock.tickAsync(0);
    assert.equal(p.value?.kind, "aborted");
    assert.match(
      p.value?.kind === "aborted" ? p.value.detail : "",
      /aborted: grace period over \(the command was already sent/,
    );
    assert.equal(executor.pending, 0);
    assert.equal(conn.published.length, 1);
  });
});

Deno.test("AgentExecutor: an already aborted signal publishes nothing", async () => {
  const { conn, executor } = setup();
  const o = await executor.execute({ id: "r-1", host: "web-1" }, AbortSignal.abort("stop"));
  assert.equal(o.kind, "aborted");
  assert.equal(conn.published.length, 0);
});

Deno.test("AgentExecutor removes its abort listener when the result arrives", async () => {
  await withFakeTime(async (clock) => {
    const { executor } = setup();
    const ac = new AbortController();
    const listeners = listenerCounter(ac.signal);
    const p = probe(executor.execute({ id: "r-1", host: "web-1" }, ac.signal));
    await clock.tickAsync(0);
    assert.equal(listeners.active, 1);
    executor.handleResult("web-1", { id: "r-1", ok: true });
    await clock.tickAsync(0);
    assert.equal(p.value?.kind, "ok");
    assert.equal(listeners.active, 0);
  });
});

Deno.test("AgentExecutor: a failed publish is a connect failure", async () => {
  const { conn, executor } = setup();
  conn.publishError = new Error("client disconnecting");
  assert.deepEqual(await executor.execute({ id: "r-1", host: "web-1" }), {
    kind: "connect",
    detail: "cannot send the command to the agent on web-1: client disconnecting",
  });
  assert.equal(executor.pending, 0);
});

Deno.test("AgentExecutor ignores results from another host and unknown ids", async () => {
  const { executor } = setup();
  const p = executor.execute({ id: "r-1", host: "web-1" });
  executor.handleResult("web-2", { id: "r-1", ok: true });
  executor.handleResult("web-1", { id: "r-404", ok: true });
  assert.equal(executor.pending, 1, "still waiting for web-1's own result");
  executor.handleResult("web-1", { id: "r-1", ok: false, detail: "no" });
  assert.equal((await p).kind, "exit");
});

Deno.test("AgentExecutor rejects bad time limits", () => {
  const conn = new FakeMqtt();
  const fleet = new FleetView();
  assert.throws(() => new AgentExecutor({ conn, topics: T, fleet, timeoutSec: 0 }), RangeError);
  assert.throws(() => new AgentExecutor({ conn, topics: T, fleet, staleSec: NaN }), RangeError);
});
