/**
 * The whole product over a real broker: `mandrill run` and two `mandrill agent`
 * processes. A restart reaches the right agent, the host "reboots" and the
 * controller reports it recovered; an agent killed with -9 is seen offline
 * through its last will and a restart for it fails fast with that reason.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { SqliteStore } from "../../src/store/mod.ts";
import { FakeHost } from "../_helpers/fake_host.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { writeTestConfig } from "../_helpers/config.ts";
import { testKeys } from "../_helpers/keys.ts";

async function gauge(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const fam = parsePrometheusTextFormat(text).find((f: { name: string }) => f.name === name);
  return fam ? Number(fam.metrics[0]?.value) : undefined;
}

Deno.test("fleet: mandrill run restarts through the agent, sees the host come back, and fails fast for a dead agent", async () => {
  await using broker = await Mosquitto.start();
  const root = await Deno.makeTempDir({ prefix: "mandrill-fleet-it-" });
  const keys = await testKeys(root);
  const web1 = await FakeHost.create(root, "web-1", broker.url, {
    controllerKeyFile: keys.pubFile,
  });
  const web2 = await FakeHost.create(root, "web-2", broker.url, {
    controllerKeyFile: keys.pubFile,
  });
  await web1.boot("boot-1a", 86_400);
  await web2.boot("boot-2a", 86_400);
  const file = await writeTestConfig(root, broker.url, {
    mqtt: { clientId: "mandrill-fleet-it" },
    http: { listen: "127.0.0.1:0" },
    executors: { agent: { type: "agent", timeoutSec: 10, staleSec: 5 } },
    security: { commandKeyFile: keys.keyFile },
    hosts: {
      "web-1": { executor: "agent", group: "web" },
      "web-2": { executor: "agent", group: "web" },
    },
    policy: { minIntervalSec: 0 },
    recovery: { timeoutSec: 60 },
  });
  await using events = await EventCollector.start(broker.url);
  await using controller = MandrillProcess.start(["run", "--config", file]);
  const port = await controller.httpPort();
  await controller.waitForLine(/Subscribed to/);
  const agents = [web1.startAgent(), web2.startAgent()];
  try {
    await waitFor(async () => (await gauge(port, "mandrill_fleet_hosts_online")) === 2, {
      what: "both agents online in the controller's fleet view",
      timeoutMs: 30_000,
    });
    await using pub = await connectClient(broker.url);
    const outcome = async (id: string) =>
      await waitFor(
        () =>
          events.events.find((e) =>
            e.id === id && ["succeeded", "failed", "skipped"].includes(e.phase)
          ),
        {
          what: `the outcome of ${id}`,
        },
      );

    await publishAll(pub, "mandrill/restart", [
      JSON.stringify({ id: "f-1", host: "web-1", reason: "it" }),
    ]);
    assert.equal((await outcome("f-1")).phase, "succeeded");
    assert.deepEqual(await web1.restarts(), ["f-1"]);
    assert.deepEqual(await web2.restarts(), [], "web-2's agent ran nothing");

    // A request while web-1 is still "rebooting" is skipped: it is being restarted.
    await publishAll(pub, "mandrill/restart", [JSON.stringify({ id: "f-busy", host: "web-1" })]);
    assert.match((await outcome("f-busy")).detail ?? "", /host already being restarted/);

    // The "reboot": the agent goes away and comes back with a new boot id and a low uptime.
    agents[0]!.kill("SIGTERM");
    assert.equal((await agents[0]!.exited()).code, 0);
    await web1.boot("boot-1b", 1);
    agents[0] = web1.startAgent();
    const recovered = await waitFor(() => events.phase("recovered").find((e) => e.id === "f-1"), {
      what: "web-1 recovered",
      timeoutMs: 30_000,
    });
    assert.match(recovered.detail ?? "", /^back after \d+\.\ds$/);
    agents[1]!.kill("SIGKILL");
    await agents[1]!.exited();
    await waitFor(async () => (await gauge(port, "mandrill_fleet_hosts_online")) === 1, {
      what: "web-2 offline through its last will",
      timeoutMs: 15_000,
    });
    await publishAll(pub, "mandrill/restart", [JSON.stringify({ id: "f-2", host: "web-2" })]);
    const failed = await outcome("f-2");
    assert.equal(failed.phase, "failed");
    assert.match(failed.detail ?? "", /agent on web-2 is offline/);
    assert.deepEqual(await web2.restarts(), []);

    controller.kill("SIGTERM");
    assert.equal((await controller.exited()).code, 0);
    using store = SqliteStore.openReader(`${root}/m.db`);
    const h = store.historyGet("f-1");
    assert.ok(
      h?.recoveryMs !== null && h!.recoveryMs! > 0 && h!.recoveryMs! < 60_000,
      `recovery ${h?.recoveryMs} ms`,
    );
  } finally {
    for (const a of agents) await a[Symbol.asyncDispose]();
    await Deno.remove(root, { recursive: true });
  }
});
