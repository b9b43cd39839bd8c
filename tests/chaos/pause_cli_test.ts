// deno-lint-ignore-file no-console
/**
 * `mandrill pause|resume` in-process against a real Mosquitto, and the kill
 * switch's retained state seen by a controller connection, also after a
 * restart with a persistent session.
 */
import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { KillSwitch, routeKillSwitch } from "../../src/chaos/control.ts";
import { PAUSE_USAGE, pauseCommand, RESUME_USAGE, resumeCommand } from "../../src/cli/control.ts";
import { parseConfig } from "../../src/config/mod.ts";
import { topics } from "../../src/contract/topics.ts";
import { MqttConnection } from "../../src/mqtt/mod.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient } from "../_helpers/mqtt.ts";
import { freePort, waitFor } from "../_helpers/wait.ts";

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with console.log/console.error captured. */
async function capture(fn: () => Promise<number>): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...args: unknown[]) => out.push(args.join(" "));
  console.error = (...args: unknown[]) => err.push(args.join(" "));
  try {
    const code = await fn();
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Writes a config file for `url` and returns its path and topic prefix. */
async function writeConfig(dir: string, url: string): Promise<{ file: string; prefix: string }> {
  const prefix = `t-${crypto.randomUUID().slice(0, 8)}`;
  const file = `${dir}/mandrill.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({ mqtt: { url, topicPrefix: prefix, clientId: "mandrill-test" } }),
  );
  return { file, prefix };
}

/** Reads the retained message of `topic` with a fresh client. */
async function readRetained(
  url: string,
  topic: string,
): Promise<{ retain: boolean; body: Record<string, unknown> }> {
  await using client = await connectClient(url);
  const got = _firstMessage(client);
  await client.subscribeAsync(topic, { qos: 1 });
  return await got;
}

function _firstMessage(
  client: MqttClient,
): Promise<{ retain: boolean; body: Record<string, unknown> }> {
  return new Promise((resolve) => {
    client.once("message", (_topic, payload, packet) => {
      resolve({ retain: packet.retain, body: JSON.parse(new TextDecoder().decode(payload)) });
    });
  });
}

Deno.test("mandrill pause/resume leave the kill switch retained on {p}/control", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir({ prefix: "mandrill-ctl-" });
  try {
    const { file, prefix } = await writeConfig(dir, broker.url);
    const before = Date.now();

    const paused = await capture(() => pauseCommand(["--config", file, "--reason", "incident 42"]));
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(
      paused.stdout,
      new RegExp(
        `^Restarts paused \\(chaos and requests\\) \\(incident 42\\): retained on ${prefix}/control`,
      ),
    );
    const onPause = await readRetained(broker.url, `${prefix}/control`);
    assert.equal(onPause.retain, true);
    assert.equal(onPause.body.paused, true);
    assert.equal(onPause.body.reason, "incident 42");
    assert.ok(typeof onPause.body.ts === "number" && onPause.body.ts >= before);

    const resumed = await capture(() => resumeCommand(["-c", file]));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /^Restarts resumed/);
    const onResume = await readRetained(broker.url, `${prefix}/control`);
    assert.equal(onResume.retain, true);
    assert.equal(onResume.body.paused, false);
    assert.equal(onResume.body.reason, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a controller learns the pause from the retained message, also after a restart", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir({ prefix: "mandrill-ctl-" });
  try {
    const { file, prefix } = await writeConfig(dir, broker.url);
    assert.equal((await capture(() => pauseCommand(["-c", file, "-r", "freeze"]))).code, 0);
    const settings = { ...parseConfig({ mqtt: { url: broker.url, clientId: "ctl-it-1" } }).mqtt };
    // Both starts use one persistent session; the second finds it present, and
    // the broker sends retained messages only in answer to a SUBSCRIBE.
    for (const start of ["first start", "restart with the session present"]) {
      const killSwitch = new KillSwitch();
      let sessionPresent: boolean | undefined;
      await using conn = await MqttConnection.open(settings, {
        onConnect: (present) => sessionPresent = present,
      });
      routeKillSwitch(conn, topics(prefix), killSwitch);
      await waitFor(() => killSwitch.paused(), { what: `the pause to arrive (${start})` });
      assert.deepEqual(
        { ...killSwitch.paused(), by: undefined, since: undefined },
        { reason: "freeze", by: undefined, since: undefined },
      );
      assert.equal(sessionPresent, start !== "first start");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mandrill pause exits 1 when the broker cannot be reached in time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-ctl-" });
  try {
    const url = `mqtt://127.0.0.1:${freePort()}`;
    const { file } = await writeConfig(dir, url);
    const started = Date.now();
    const run = await capture(() => pauseCommand(["--config", file], { timeoutMs: 700 }));
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr, `mandrill pause: cannot connect to the broker at ${url} within 0.7 s`);
    assert.ok(Date.now() - started < 5_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mandrill pause/resume: usage and config errors", async (t) => {
  await t.step("--help prints the usage, exit 0", async () => {
    const run = await capture(() => pauseCommand(["--help"]));
    assert.equal(run.code, 0);
    assert.equal(run.stdout, PAUSE_USAGE);
    assert.equal((await capture(() => resumeCommand(["-h"]))).stdout, RESUME_USAGE);
  });
  await t.step("no --config: exit 2", async () => {
    const run = await capture(() => pauseCommand([]));
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^mandrill pause: --config FILE is required/);
    assert.ok(run.stderr.endsWith(PAUSE_USAGE));
  });
  await t.step("an unknown option or a positional: exit 2", async () => {
    for (const args of [["--config", "x.json", "--force"], ["--config", "x.json", "now"]]) {
      const run = await capture(() => resumeCommand(args));
      assert.equal(run.code, 2, args.join(" "));
      assert.match(run.stderr, /^mandrill resume: /);
    }
  });
  await t.step("a reason over 1024 characters: exit 2", async () => {
    const run = await capture(() => pauseCommand(["-c", "x.json", "-r", "x".repeat(1025)]));
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--reason is longer than 1024 characters/);
  });
  await t.step("a missing config file: exit 1 naming it", async () => {
    const run = await capture(() => pauseCommand(["-c", "/nonexistent/mandrill.json"]));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /\/nonexistent\/mandrill\.json/);
    assert.match(run.stderr, /file not found/);
  });
});
