/**
 * Two real `mandrill agent` processes on a real Mosquitto, driven by a small
 * in-test controller (MqttConnection + FleetView + AgentExecutor +
 * RecoveryTracker): restart through the right agent, recovery after a
 * "reboot" (new boot id), and a kill -9 seen through the last will.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../src/clock.ts";
import { topics } from "../../src/contract/topics.ts";
import { AgentExecutor } from "../../src/executors/agent.ts";
import { FleetView, routeFleet } from "../../src/fleet/mod.ts";
import { type NotBackEvent, type RecoveredEvent, RecoveryTracker } from "../../src/restart/mod.ts";
import { MqttConnection } from "../../src/mqtt/mod.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import type { MandrillProcess } from "../_helpers/process.ts";
import { FakeHost } from "../_helpers/fake_host.ts";
import { waitFor } from "../_helpers/wait.ts";
import { testKeys } from "../_helpers/keys.ts";
import { CommandSigner } from "../../src/security/mod.ts";

const T = topics("mandrill");

Deno.test("agents: restart via the right agent, recovery on a new boot id, kill -9 seen through the last will", async (t) => {
  await using broker = await Mosquitto.start();
  const root = await Deno.makeTempDir({ prefix: "mandrill-agents-it-" });
  const keys = await testKeys(root);
  const web1 = await FakeHost.create(root, "web-1", broker.url, {
    controllerKeyFile: keys.pubFile,
  });
  const web2 = await FakeHost.create(root, "web-2", broker.url, {
    controllerKeyFile: keys.pubFile,
  });
  await web1.boot("boot-1a", 86_400);
  await web2.boot("boot-2a", 3_600);

  // The in-test controller.
  const conn = await MqttConnection.open({
    url: broker.url,
    clientId: "mandrill-it-agents",
    protocolVersion: 5,
    sessionExpirySec: 60,
    keepaliveSec: 30,
    connectTimeoutSec: 5,
    reconnectMinMs: 100,
    reconnectMaxMs: 1000,
  }, { persistent: false });
  const fleet = new FleetView();
  const executor = new AgentExecutor({
    conn,
    topics: T,
    fleet,
    timeoutSec: 15,
    staleSec: 5,
    clock: systemClock,
    signer: await CommandSigner.fromFile(keys.keyFile),
  });
  routeFleet(conn, {
    topics: T,
    fleet,
    clock: systemClock,
    onResult: (host, result) => executor.handleResult(host, result),
  });
  const recovered: RecoveredEvent[] = [];
  const timedOut: NotBackEvent[] = [];
  const tracker = new RecoveryTracker({
    fleet,
    clock: systemClock,
    recoveryTimeoutSec: 60,
    onRecovered: (e) => recovered.push(e),
    onNotBack: (e) => timedOut.push(e),
  });
  const agents: MandrillProcess[] = [];
  try {
    await conn.waitConnected(AbortSignal.timeout(10_000));
    agents.push(web1.startAgent(), web2.startAgent());
    await waitFor(
      () =>
        ["web-1", "web-2"].every((h) => fleet.get(h)?.online && !fleet.isStale(h, 5, Date.now())),
      { what: "both agents online and heartbeating", timeoutMs: 30_000 },
    );
    assert.equal(fleet.get("web-1")?.bootId, "boot-1a");
    assert.equal(fleet.get("web-2")?.uptimeSec, 3_600);

    let startedAt = 0;
    await t.step("a restart command reaches web-1's agent only, runs, and reports ok", async () => {
      startedAt = Date.now();
      const outcome = await executor.execute({ id: "r-1", host: "web-1", reason: "it test" });
      assert.deepEqual(outcome, { kind: "ok" });
      assert.deepEqual(await web1.restarts(), ["r-1"]);
      assert.deepEqual(await web2.restarts(), [], "web-2's agent ran nothing");
    });

    await t.step(
      "web-1 stops (SIGTERM: exit 0, offline) and comes back with a new boot id: recovered",
      async () => {
        const bootIdBefore = fleet.get("web-1")!.bootId;
        assert.equal(bootIdBefore, "boot-1a");
        tracker.track({ id: "r-1", host: "web-1", startedAt, source: "agent", bootIdBefore });
        assert.equal(tracker.get("web-1")?.phase, "coming_back");
        agents[0]!.kill("SIGTERM");
        assert.equal((await agents[0]!.exited()).code, 0, agents[0]!.lines.join("\n"));
        await waitFor(() => fleet.get("web-1")?.online === false, { what: "web-1 offline" });
        assert.equal(recovered.length, 0, "not recovered while down");
        await web1.boot("boot-1b", 2.5);
        agents[0] = web1.startAgent();
        await waitFor(() => recovered.length === 1, { what: "web-1 recovered", timeoutMs: 30_000 });
        const [e] = recovered;
        assert.equal(e!.id, "r-1");
        assert.equal(e!.host, "web-1");
        assert.equal(e!.bootId, "boot-1b");
        assert.ok(
          e!.recoveryMs > 0 && e!.recoveryMs <= Date.now() - startedAt,
          `implausible recovery time ${e!.recoveryMs} ms`,
        );
        assert.equal(tracker.get("web-1"), undefined);
        assert.deepEqual(timedOut, []);
        await waitFor(() => fleet.get("web-1")?.uptimeSec === 2.5, { what: "web-1's new uptime" });
        assert.ok(fleet.uptimeOf("web-1", Date.now())! < 60, "uptime restarted with the boot");
      },
    );

    await t.step(
      "the same id again is answered from the agent's state file, not run twice",
      async () => {
        const outcome = await executor.execute({ id: "r-1", host: "web-1" });
        assert.deepEqual(outcome, { kind: "ok" });
        assert.deepEqual(await web1.restarts(), ["r-1"]);
      },
    );

    await t.step(
      "web-2 killed with -9 is offline through its will; a restart fails fast",
      async () => {
        agents[1]!.kill("SIGKILL");
        await agents[1]!.exited();
        await waitFor(() => fleet.get("web-2")?.online === false, {
          what: "web-2's last will",
          timeoutMs: 15_000,
        });
        const t0 = performance.now();
        const outcome = await executor.execute({ id: "r-2", host: "web-2" });
        const tookMs = performance.now() - t0;
        assert.equal(outcome.kind, "connect");
        assert.match(
          outcome.kind === "connect" ? outcome.detail : "",
          /^agent on web-2 is offline \(last will or shutdown at \d{4}-\d\d-\d\dT/,
        );
        assert.ok(tookMs < 1_000, `took ${tookMs} ms, not fast`);
        assert.deepEqual(await web2.restarts(), []);
        assert.equal(executor.pending, 0);
      },
    );
  } finally {
    for (const a of agents) await a[Symbol.asyncDispose]();
    await tracker[Symbol.asyncDispose]();
    await conn.close();
    await Deno.remove(root, { recursive: true });
  }
});
