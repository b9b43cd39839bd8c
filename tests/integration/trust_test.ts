/**
 * Trust on the wire, over a real broker with real `mandrill agent` and
 * `mandrill run` processes: only commands the controller signed run, once,
 * on their own host, before they expire; control messages that do not verify
 * never lift a pause, not even across a restart of mandrill.
 */
import assert from "node:assert/strict";
import type { AgentCommand } from "../../src/contract/messages.ts";
import { SimulatedFleet } from "../../src/dev/sim_fleet.ts";
import { CommandSigner } from "../../src/security/mod.ts";
import { writeTestConfig } from "../_helpers/config.ts";
import { FakeHost } from "../_helpers/fake_host.ts";
import { testKeys } from "../_helpers/keys.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A command for `host` valid for a minute from now, unsigned. */
function command(id: string, host: string, now = Date.now()): Omit<AgentCommand, "sig"> {
  return { id, action: "restart", host, issuedAt: now, expiresAt: now + 60_000 };
}

Deno.test("trust: forged, foreign-signed, replayed-on-another-host and expired commands run nothing; the real one runs once", async () => {
  await using broker = await Mosquitto.start();
  const root = await Deno.makeTempDir({ prefix: "mandrill-trust-" });
  const keys = await testKeys(root);
  await Deno.mkdir(`${root}/other`);
  const otherKeys = await testKeys(`${root}/other`);
  const h1 = await FakeHost.create(root, "h1", broker.url, { controllerKeyFile: keys.pubFile });
  const h2 = await FakeHost.create(root, "h2", broker.url, { controllerKeyFile: keys.pubFile });
  await h1.boot("boot-1", 1000);
  await h2.boot("boot-2", 1000);
  const agents = [h1.startAgent(), h2.startAgent()];
  try {
    await Promise.all(agents.map((a) => a.waitForLine(/mandrill agent for \\?"?h\d\\?"? started/)));
    await using attacker = await connectClient(broker.url);
    // Each agent is online (its retained status) before anything is sent.
    for (const host of ["h1", "h2"]) {
      await waitFor(async () => {
        const got = Promise.withResolvers<string>();
        const c = await connectClient(broker.url);
        c.on("message", (_t, p) => got.resolve(new TextDecoder().decode(p)));
        await c.subscribeAsync(`mandrill/agents/${host}/status`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const status = await Promise.race([
          got.promise,
          new Promise((r) => timer = setTimeout(r, 500)),
        ]);
        clearTimeout(timer);
        await c.endAsync(true);
        return typeof status === "string" && status.includes('"online"');
      }, { what: `${host} online` });
    }
    const controller = await CommandSigner.fromFile(keys.keyFile);
    const stranger = await CommandSigner.fromFile(otherKeys.keyFile);
    const send = (host: string, c: object) =>
      publishAll(attacker, `mandrill/agents/${host}/commands`, [JSON.stringify(c)]);

    await send("h1", command("forged-1", "h1")); // no signature
    await send("h1", await stranger.signCommand(command("foreign-1", "h1"))); // another key
    const expired = command("expired-1", "h1", Date.now() - 120_000);
    await send("h1", await controller.signCommand(expired)); // expired a minute ago
    const future = command("future-1", "h1", Date.now() + 3_600_000);
    await send("h1", await controller.signCommand(future)); // issued an hour ahead
    const real = await controller.signCommand(command("real-1", "h1"));
    await send("h1", real);
    await waitFor(async () => (await h1.restarts()).includes("real-1"), { what: "real-1 to run" });
    await send("h2", real); // signed for h1, replayed on h2's topic
    await send("h1", real); // replayed after it ran
    // Positive controls, sent after: once they ran, everything before them was handled.
    await send("h2", await controller.signCommand(command("real-2", "h2")));
    await send("h1", await controller.signCommand(command("real-3", "h1")));
    await waitFor(async () => (await h2.restarts()).includes("real-2"), { what: "real-2" });
    await waitFor(async () => (await h1.restarts()).includes("real-3"), { what: "real-3" });
    assert.deepEqual(await h1.restarts(), ["real-1", "real-3"]);
    assert.deepEqual(await h2.restarts(), ["real-2"]);
    const refused = (a: MandrillProcess) =>
      a.lines.filter((l) => /Refusing command/.test(l)).map((l) => JSON.parse(l).reason);
    assert.deepEqual(refused(agents[0]!).sort(), [
      "bad_signature",
      "expired",
      "not_yet_valid",
      "unsigned",
    ]);
    assert.deepEqual(refused(agents[1]!), ["wrong_host"]);
  } finally {
    for (const a of agents) await a[Symbol.asyncDispose]();
    await Deno.remove(root, { recursive: true });
  }
});

async function mandrill(...args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-check", MAIN, ...args],
  }).output();
  const text = new TextDecoder();
  return { code: o.code, out: text.decode(o.stdout) + text.decode(o.stderr) };
}

Deno.test("trust: a forged retained resume never lifts a signed pause, not even across a restart of mandrill", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir({ prefix: "mandrill-trust-control-" });
  try {
    const keys = await testKeys(dir);
    const file = await writeTestConfig(dir, broker.url, {
      mqtt: { clientId: "mandrill-trust-control" },
      executors: { local: { type: "command", argv: ["true"] } },
      hosts: { "web-1": { executor: "local" } },
      policy: { minIntervalSec: 0 },
      security: { commandKeyFile: keys.keyFile },
    });
    await using events = await EventCollector.start(broker.url);
    await using pub = await connectClient(broker.url);
    const ended = (id: string) =>
      waitFor(() => events.events.find((e) => e.id === id && e.phase !== "received"), {
        what: `the end of ${id}`,
      });
    const paused = await mandrill("pause", "--config", file, "--reason", "incident-42");
    assert.equal(paused.code, 0, paused.out);
    {
      await using run = MandrillProcess.start(["run", "--config", file]);
      await run.waitForLine(/Kill switch engaged/);
      // Another client lifts the pause with a retained message of its own, newer than the pause.
      const forged = { paused: false, by: "attacker", ts: Date.now() + 1_000, sig: "AAAA" };
      await pub.publishAsync("mandrill/control", JSON.stringify(forged), {
        qos: 1,
        retain: true,
      });
      await run.waitForLine(/Ignoring a control message that does not verify/);
      await publishAll(pub, "mandrill/restart", [JSON.stringify({ id: "r-1", host: "web-1" })]);
      const r1 = await ended("r-1");
      assert.equal(r1.phase, "skipped");
      assert.match(r1.detail ?? "", /^paused: incident-42/);
      run.kill("SIGTERM");
      assert.equal((await run.exited()).code, 0);
    }
    // Restarted while only the forged message is retained: still paused.
    await using again = MandrillProcess.start(["run", "--config", file]);
    await again.waitForLine(/Kill switch: .*paused/);
    await publishAll(pub, "mandrill/restart", [JSON.stringify({ id: "r-2", host: "web-1" })]);
    const r2 = await ended("r-2");
    assert.equal(r2.phase, "skipped");
    assert.match(r2.detail ?? "", /^paused: /);
    // A signed resume does lift it.
    const resumed = await mandrill("resume", "--config", file);
    assert.equal(resumed.code, 0, resumed.out);
    await again.waitForLine(/Kill switch released/);
    await publishAll(pub, "mandrill/restart", [JSON.stringify({ id: "r-3", host: "web-1" })]);
    assert.equal((await ended("r-3")).phase, "started");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trust: results count only for a command outstanding for that host — a forged one with a made-up id, or on another host's topic, changes nothing", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir({ prefix: "mandrill-trust-results-" });
  const keys = await testKeys(dir);
  await using fleet = await SimulatedFleet.start({
    url: broker.url,
    hosts: ["h1", "h2"],
    dir: `${dir}/fleet`,
    heartbeatSec: 0.2,
    rebootSec: [0.5, 0.5],
    commandSec: 3, // the real answer takes a while: the forger has time
    agent: { security: { controllerKeyFile: keys.pubFile } },
  });
  const file = await writeTestConfig(dir, broker.url, {
    http: { listen: "127.0.0.1:0" },
    executors: { agent: { type: "agent", timeoutSec: 20, staleSec: 3 } },
    security: { commandKeyFile: keys.keyFile },
    hosts: { h1: { executor: "agent" }, h2: { executor: "agent" } },
    policy: { minIntervalSec: 0 },
    recovery: { probeIntervalSec: 0.2, timeoutSec: 30 },
  });
  await using events = await EventCollector.start(broker.url);
  await using run = MandrillProcess.start(["run", "--config", file]);
  const port = await run.httpPort();
  try {
    await run.waitForLine(/Kill switch: \W*running/, { timeoutMs: 30_000 });
    await using forger = await connectClient(broker.url);
    await waitFor(async () => {
      const status = await (await fetch(`http://127.0.0.1:${port}/api/status`)).json();
      const hosts = status.groups.flatMap((g: { hosts: { state: string }[] }) => g.hosts);
      return hosts.length === 2 && hosts.every((h: { state: string }) => h.state === "up");
    }, { what: "mandrill hearing both agents" });
    await publishAll(forger, "mandrill/restart", [JSON.stringify({ id: "r-1", host: "h1" })]);
    await waitFor(() => events.phase("started").some((e) => e.id === "r-1"), {
      what: "r-1 started",
    });
    // While the real agent works on r-1: a result with an id nobody sent, and r-1's on h2's topic.
    await publishAll(forger, "mandrill/agents/h1/results", [
      JSON.stringify({ id: "made-up-7", ok: true, detail: "forged" }),
    ]);
    await publishAll(forger, "mandrill/agents/h2/results", [
      JSON.stringify({ id: "r-1", ok: false, detail: "forged failure" }),
    ]);
    await run.waitForLine(/Result for \W*r-1\W* came from \W*h2\W*, but it was sent to \W*h1/, {
      timeoutMs: 5_000,
    });
    const end = await waitFor(
      () => events.events.find((e) => e.id === "r-1" && ["succeeded", "failed"].includes(e.phase)),
      { what: "r-1 to end", timeoutMs: 30_000 },
    );
    assert.equal(end.phase, "succeeded", end.detail ?? "");
    assert.doesNotMatch(end.detail ?? "", /forged/);
    assert.equal(fleet.get("h1").restarts.length, 1);
    assert.equal(events.events.filter((e) => e.id === "made-up-7").length, 0);
    assert.equal(events.events.filter((e) => e.id === "r-1" && e.phase === "succeeded").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
