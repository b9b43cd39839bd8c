/**
 * The broker's own access control, as `mandrill broker acl` writes it, in a
 * real Mosquitto with a password file: what each user's messages reach is
 * asserted on what the broker delivers, and the whole flow (requester →
 * mandrill run → agents) still works through it. A refused password is named
 * in the log and in `/readyz`.
 */
import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { writeTestConfig } from "../_helpers/config.ts";
import { FakeHost } from "../_helpers/fake_host.ts";
import { testKeys } from "../_helpers/keys.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector } from "../_helpers/mqtt.ts";
import { MandrillProcess, runMandrill } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";

const USERS = ["mandrill", "requesters", "h1", "h2"];
const password = (user: string) => `pw-${user}-s3cret`;

/** A broker with the ACL `mandrill broker acl` prints for `config` and a password file for USERS. */
async function aclBroker(
  dir: string,
): Promise<{ broker: Mosquitto; runConfig: string; acl: string }> {
  const keys = await testKeys(dir);
  const runConfig = await writeTestConfig(dir, "mqtt://127.0.0.1:1", {
    mqtt: { username: "mandrill", password: password("mandrill"), sharedGroup: "ctl" },
    security: { commandKeyFile: keys.keyFile },
    executors: { agent: { type: "agent", timeoutSec: 10 } },
    hosts: { h1: { executor: "agent" }, h2: { executor: "agent" } },
    policy: { minIntervalSec: 0 },
  });
  const out = await runMandrill(["broker", "acl", "--config", runConfig]);
  assert.equal(out.code, 0, out.stderr);
  const acl = out.stdout;
  await Deno.writeTextFile(`${dir}/acl`, acl);
  const passwd = `${dir}/passwd`;
  await Deno.writeTextFile(passwd, "");
  for (const user of USERS) {
    const r = await new Deno.Command("mosquitto_passwd", {
      args: ["-b", passwd, user, password(user)],
    }).output();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
  }
  await Deno.chmod(passwd, 0o600);
  const broker = await Mosquitto.start({
    extraConfig: ["allow_anonymous false", `password_file ${passwd}`, `acl_file ${dir}/acl`],
  });
  // The run config, now pointing at the broker.
  const cfg = JSON.parse(await Deno.readTextFile(runConfig));
  cfg.mqtt.url = broker.url;
  await Deno.writeTextFile(runConfig, JSON.stringify(cfg));
  return { broker, runConfig, acl };
}

/** A client logged in as `user`. */
function as(broker: Mosquitto, user: string): Promise<MqttClient & AsyncDisposable> {
  return connectClient(broker.url, `${user}-${crypto.randomUUID().slice(0, 6)}`, 5, {
    username: user,
    password: password(user),
  });
}

/** Every message `client` receives, as `topic payload`. */
function received(client: MqttClient): string[] {
  const got: string[] = [];
  client.on("message", (t, p) => got.push(`${t} ${new TextDecoder().decode(p)}`));
  return got;
}

/** Publishes at QoS 1 and says whether the broker acknowledged it without an error reason. */
async function tryPublish(client: MqttClient, topic: string, payload: string): Promise<boolean> {
  try {
    await client.publishAsync(topic, payload, { qos: 1 });
    return true;
  } catch {
    return false;
  }
}

Deno.test("broker acl: agent h2's credentials reach nothing of h1's, no requests, no commands, no kill switch; the requester only requests", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-acl-" });
  const { broker, acl } = await aclBroker(dir);
  try {
    assert.match(acl, /^pattern write mandrill\/agents\/%u\/heartbeat$/m);
    await using watcher = await as(broker, "mandrill"); // the controller reads everything
    const seen = received(watcher);
    await watcher.subscribeAsync("mandrill/#", { qos: 1 });

    await using h2 = await as(broker, "h2");
    const forged = [
      "mandrill/agents/h1/heartbeat",
      "mandrill/agents/h1/status",
      "mandrill/agents/h1/results",
      "mandrill/agents/h1/commands",
      "mandrill/agents/h2/commands",
      "mandrill/restart",
      "mandrill/control",
      "mandrill/events",
    ];
    for (const topic of forged) await tryPublish(h2, topic, "forged-by-h2");
    await using requester = await as(broker, "requesters");
    for (const topic of forged.filter((t) => t !== "mandrill/restart")) {
      await tryPublish(requester, topic, "forged-by-requester");
    }
    // Positive controls, sent last by each: once they arrived, so would have everything before.
    assert.ok(await tryPublish(h2, "mandrill/agents/h2/heartbeat", "h2-own"));
    assert.ok(await tryPublish(requester, "mandrill/restart", "requester-own"));
    await waitFor(
      () =>
        seen.includes("mandrill/agents/h2/heartbeat h2-own") &&
        seen.includes("mandrill/restart requester-own"),
      { what: () => `the positive controls; seen ${JSON.stringify(seen)}` },
    );
    assert.deepEqual(seen.filter((m) => m.includes("forged")), [], "forged messages delivered");

    // h2 cannot read h1's commands, by name or by wildcard; it reads its own.
    const h2Got = received(h2);
    await h2.subscribeAsync(["mandrill/agents/h1/commands", "mandrill/agents/+/commands"], {
      qos: 1,
    });
    assert.ok(await tryPublish(watcher, "mandrill/agents/h1/commands", "for-h1"));
    assert.ok(await tryPublish(watcher, "mandrill/agents/h2/commands", "for-h2"));
    await waitFor(() => h2Got.includes("mandrill/agents/h2/commands for-h2"), {
      what: "h2's own command",
    });
    assert.deepEqual(h2Got.filter((m) => m.includes("for-h1")), [], "h2 read h1's command");

    // Without credentials: no connection at all.
    await assert.rejects(
      connectClient(broker.url, "anon", 5, { reconnectPeriod: 0 }),
      /Not authorized|Bad User Name or Password|Connection refused/i,
    );
  } finally {
    await broker[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("broker acl: through the generated ACL a requested restart runs on its agent (shared group, signed command), /readyz is 200", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-acl-" });
  const { broker, runConfig } = await aclBroker(dir);
  try {
    const cfg = JSON.parse(await Deno.readTextFile(runConfig));
    cfg.http = { listen: "127.0.0.1:0" };
    await Deno.writeTextFile(runConfig, JSON.stringify(cfg));
    const pub = `${dir}/command.pub`;
    const hosts = await Promise.all(["h1", "h2"].map((h) =>
      FakeHost.create(dir, h, broker.url, {
        controllerKeyFile: pub,
        mqtt: { username: h, password: password(h) },
      })
    ));
    for (const h of hosts) await h.boot(`boot-${h.host}`, 100);
    await using agent1 = hosts[0]!.startAgent();
    await using agent2 = hosts[1]!.startAgent();
    await using run = MandrillProcess.start(["run", "--config", runConfig]);
    const port = await run.httpPort();
    await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      await r.body?.cancel();
      return r.status === 200;
    }, {
      what: "mandrill ready through the ACL",
      timeoutMs: 20_000,
    });
    // Both agents heard (their heartbeats went through the ACL) before anything is asked.
    await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /^mandrill_fleet_hosts 2$/m.test(text);
    }, { what: "both agents heard by mandrill", timeoutMs: 20_000 });
    await using events = await EventCollector.startWith(broker.url, {
      username: "mandrill",
      password: password("mandrill"),
    });
    await using requester = await as(broker, "requesters");
    await requester.publishAsync("mandrill/restart", JSON.stringify({ id: "acl-1", host: "h1" }), {
      qos: 1,
    });
    await waitFor(async () => (await hosts[0]!.restarts()).includes("acl-1"), {
      what: () =>
        `h1's agent to run acl-1; mandrill: ${run.lines.slice(-15).join("\n")}\nagent h1: ${
          agent1.lines.slice(-10).join("\n")
        }`,
      timeoutMs: 20_000,
    });
    const ended = await waitFor(
      () => events.events.find((e) => e.id === "acl-1" && e.phase === "succeeded"),
      { what: "acl-1 succeeded" },
    );
    assert.equal(ended.host, "h1");
    assert.deepEqual(await hosts[1]!.restarts(), []);
    for (const p of [run, agent1, agent2]) {
      assert.doesNotMatch(p.lines.join("\n"), /not authori[sz]ed|Cannot connect/i);
    }
  } finally {
    await broker[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("broker acl: a refused password is named in the log and in /readyz (503), retried with backoff", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-acl-" });
  const { broker, runConfig } = await aclBroker(dir);
  try {
    const cfg = JSON.parse(await Deno.readTextFile(runConfig));
    cfg.http = { listen: "127.0.0.1:0" };
    cfg.mqtt.password = "wrong";
    cfg.mqtt.reconnectMinMs = 100;
    cfg.mqtt.reconnectMaxMs = 400;
    await Deno.writeTextFile(runConfig, JSON.stringify(cfg));
    await using run = MandrillProcess.start(["run", "--config", runConfig]);
    const port = await run.httpPort();
    const line = await run.waitForLine(/Cannot connect to/, { timeoutMs: 20_000 });
    assert.match(
      line,
      /Cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*(Not authori[sz]ed|Bad User Name or Password).*reconnecting in \d+ ms/i,
    );
    assert.doesNotMatch(run.lines.join("\n"), /wrong/, "the password was logged");
    const r = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return res ? { status: res.status, body: await res.text() } : undefined;
    }, { what: "/readyz" });
    assert.equal(r.status, 503);
    assert.match(
      r.body,
      /MQTT broker mqtt:\/\/127\.0\.0\.1:\d+ not connected: .*(Not authori[sz]ed|Bad User Name or Password)/i,
    );
    // Backoff: it keeps trying (a second refusal is logged), and stays up.
    await waitFor(() => run.lines.join("\n").split("Cannot connect to").length > 2, {
      what: "a second attempt",
    });
    run.kill("SIGTERM");
    assert.equal((await run.exited()).code, 0);
  } finally {
    await broker[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
