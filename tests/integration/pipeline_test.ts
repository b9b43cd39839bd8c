/**
 * The restart pipeline end to end, in process, over a real Mosquitto:
 * exactly-once execution, garbage dead-lettered, per-host and global limits.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/mod.ts";
import { Controller } from "../../src/controller.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { waitFor } from "../_helpers/wait.ts";
import { readLines } from "../_helpers/files.ts";
import { hostsConfig, recordingArgv, testConfig } from "../_helpers/config.ts";

Deno.test("pipeline: 1,000 requests for 200 hosts each run exactly once with a succeeded event", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const out = `${dir}/executed.txt`;
  const config = parseConfig(testConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-it-1" },
    executors: { local: { type: "command", argv: recordingArgv(out) } },
    hosts: hostsConfig(200),
    policy: {
      minIntervalSec: 0,
      maxPerHour: 100000,
      maxUnavailable: 16,
      maxUnavailablePerGroup: 16,
    },
  }));
  await using events = await EventCollector.start(broker.url);
  await using controller = await Controller.start(config);
  await controller.conn.waitSubscribed();
  await using pub = await connectClient(broker.url);
  // Five requests per host, all published at once: each host's run one after another.
  const payloads = Array.from(
    { length: 1000 },
    (_, i) => JSON.stringify({ id: `r-${i}`, host: `web-${i % 200}` }),
  );
  await publishAll(pub, "mandrill/restart", payloads);
  await events.waitTerminal(1000, { timeoutMs: 120_000 });
  const lines = await readLines(out);
  const ids = lines.map((l) => l.split(" ")[1]!);
  assert.equal(new Set(ids).size, ids.length, "an id was executed twice");
  assert.equal(ids.length, 1000);
  const succeeded = new Set(events.phase("succeeded").map((e) => e.id));
  assert.equal(succeeded.size, 1000);
  for (const l of lines) {
    const [host, id] = l.split(" ");
    assert.equal(
      host,
      `web-${Number(id!.split("-")[1]) % 200}`,
      `id ${id} ran on the wrong host ${host}`,
    );
  }
  await controller.shutdown();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: garbage is dead-lettered with a reason, never executed, valid requests all run", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const out = `${dir}/executed.txt`;
  const config = parseConfig(testConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-it-2" },
    executors: { local: { type: "command", argv: recordingArgv(out) } },
    hosts: hostsConfig(20),
    policy: { minIntervalSec: 0, maxPerHour: 100000, maxUnavailable: 8, maxUnavailablePerGroup: 8 },
  }));
  await using events = await EventCollector.start(broker.url);
  await using controller = await Controller.start(config);
  await controller.conn.waitSubscribed();
  await using pub = await connectClient(broker.url);
  const garbage: (string | Uint8Array)[] = [
    "not json at all",
    '{"id": 5, "host": [] }',
    JSON.stringify({ id: "g-big", host: "web-1", reason: "x".repeat(1024 * 1024) }),
    JSON.stringify({ id: "g-semi", host: "web-1;rm -rf /" }),
    JSON.stringify({ id: "g-subst", host: "$(reboot)" }),
    JSON.stringify({ id: "g-dots", host: "../x" }),
    JSON.stringify({ id: "g-long", host: "a".repeat(300) }),
    JSON.stringify({ id: "g-uni", host: "wéb-1" }),
    "",
    new Uint8Array([0xff, 0xfe, 0x00, 0x7b]),
    JSON.stringify({ id: "bad id with spaces", host: "web-1" }),
    "[1,2,3]",
    "null",
  ];
  const valid = Array.from(
    { length: 20 },
    (_, i) => JSON.stringify({ id: `v-${i}`, host: `web-${i}` }),
  );
  const mixed: (string | Uint8Array)[] = [];
  for (let i = 0; i < Math.max(garbage.length, valid.length); i++) {
    if (garbage[i] !== undefined) mixed.push(garbage[i]!);
    if (valid[i] !== undefined) mixed.push(valid[i]!);
  }
  await publishAll(pub, "mandrill/restart", mixed);
  await waitFor(
    () => events.phase("succeeded").length >= 20 && events.deadLetters.length >= garbage.length,
    {
      what: "20 successes and every dead letter",
      timeoutMs: 30_000,
    },
  );
  const executed = (await readLines(out)).map((l) => l.split(" ")[1]!);
  assert.deepEqual(executed.sort(), valid.map((v) => JSON.parse(v).id).sort());
  assert.equal(events.deadLetters.length, garbage.length);
  for (const dl of events.deadLetters) {
    assert.ok(dl.error.length > 0, "dead letter without a reason");
    assert.ok(dl.payload.length <= 4096, "dead letter payload not cut at 4 KiB");
  }
  const reasons = events.deadLetters.map((d) => d.error).join("\n");
  assert.match(reasons, /not JSON/);
  assert.match(reasons, /too large/);
  assert.match(reasons, /host: must be an RFC 1123 host name/);
  assert.match(reasons, /empty payload/);
  const rejected = new Set(events.phase("rejected").map((e) => e.id));
  for (const id of ["g-semi", "g-subst", "g-dots", "g-long", "g-uni"]) {
    assert.ok(rejected.has(id), `${id} not rejected`);
  }
  assert.equal((await controller.store.deadLetters(100)).length, garbage.length);
  assert.equal(controller.conn.connected, true, "mandrill dropped its connection");
  await controller.shutdown();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: 500 requests for one host run once, the rest are skipped with a reason", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const out = `${dir}/executed.txt`;
  const config = parseConfig(testConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-it-3" },
    executors: { local: { type: "command", argv: recordingArgv(out) } },
    hosts: hostsConfig(1),
  }));
  await using events = await EventCollector.start(broker.url);
  await using controller = await Controller.start(config);
  await controller.conn.waitSubscribed();
  await using pub = await connectClient(broker.url);
  const payloads = Array.from(
    { length: 500 },
    (_, i) => JSON.stringify({ id: `one-${i}`, host: "web-0" }),
  );
  await publishAll(pub, "mandrill/restart", payloads);
  await events.waitTerminal(500);
  assert.equal((await readLines(out)).length, 1);
  assert.equal(events.phase("succeeded").length, 1);
  const skipped = events.phase("skipped");
  assert.equal(skipped.length, 499);
  for (const s of skipped) assert.match(s.detail ?? "", /less than minIntervalSec/);
  await controller.shutdown();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: with 50 hosts and maxUnavailable 3, at most 3 executors run at once", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  // The executor itself counts how many copies of it run at once, under flock.
  const script = `${dir}/restart.sh`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh
exec 9>>"${dir}/lock"
flock 9; n=$(cat "${dir}/cur" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "${dir}/cur"; echo $n >> "${dir}/samples"; flock -u 9
sleep 0.2
flock 9; n=$(cat "${dir}/cur"); echo $((n-1)) > "${dir}/cur"; flock -u 9
`,
  );
  await Deno.chmod(script, 0o755);
  const config = parseConfig(testConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-it-4" },
    executors: { local: { type: "command", argv: [script] } },
    hosts: hostsConfig(50, { group: (i) => `g${i % 10}` }),
    policy: { minIntervalSec: 0, maxPerHour: 1000, maxUnavailable: 3, maxUnavailablePerGroup: 3 },
  }));
  await using events = await EventCollector.start(broker.url);
  await using controller = await Controller.start(config);
  await controller.conn.waitSubscribed();
  await using pub = await connectClient(broker.url);
  const payloads = Array.from(
    { length: 50 },
    (_, i) => JSON.stringify({ id: `c-${i}`, host: `web-${i}` }),
  );
  await publishAll(pub, "mandrill/restart", payloads);
  await events.waitTerminal(50);
  assert.equal(events.phase("succeeded").length, 50);
  const samples = (await readLines(`${dir}/samples`)).map(Number);
  assert.equal(samples.length, 50);
  assert.equal(
    Math.max(...samples),
    3,
    `concurrency seen by the executor: ${Math.max(...samples)}`,
  );
  await controller.shutdown();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pipeline: after a broker restart that lost the session, mandrill resubscribes (MQTT 3.1.1 too)", async (t) => {
  for (const protocolVersion of [5, 4] as const) {
    await t.step(`protocolVersion ${protocolVersion}`, async () => {
      await using broker = await Mosquitto.start({ persistence: false });
      const dir = await Deno.makeTempDir();
      const out = `${dir}/executed.txt`;
      const config = parseConfig(testConfig(dir, broker.url, {
        mqtt: { protocolVersion, reconnectMinMs: 50, reconnectMaxMs: 500 },
        executors: { local: { type: "command", argv: recordingArgv(out) } },
        hosts: hostsConfig(2),
        policy: { minIntervalSec: 0 },
      }));
      await using controller = await Controller.start(config);
      await controller.conn.waitSubscribed();
      {
        await using pub = await connectClient(broker.url);
        await publishAll(pub, "mandrill/restart", [
          JSON.stringify({ id: "before", host: "web-0" }),
        ]);
        await waitFor(async () => (await readLines(out)).length === 1, {
          what: "the first request to run",
        });
      }
      await broker.stop(); // no persistence: the broker forgets mandrill's subscription
      await broker.start();
      await waitFor(() => controller.conn.connected, { what: "mandrill to reconnect" });
      await using pub = await connectClient(broker.url);
      // The subscription is restored asynchronously after the reconnect; retry the
      // publish with fresh ids until one lands (a lost one is simply not delivered).
      let n = 0;
      await waitFor(async () => {
        await publishAll(pub, "mandrill/restart", [
          JSON.stringify({ id: `after-${n++}`, host: "web-1" }),
        ]);
        return (await readLines(out)).some((l) => l.startsWith("web-1 after-"));
      }, { what: "a request after the broker restart to run", intervalMs: 100 });
      await controller.shutdown();
      await Deno.remove(dir, { recursive: true });
    });
  }
});

Deno.test("pipeline: a controller that fails while starting closes its broker connection and store", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const config = parseConfig(testConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-it-broken" },
    executors: { local: { type: "command", argv: ["/bin/true"] } },
    hosts: hostsConfig(1),
  }));
  // The clock is first read while the controller is being built.
  const clock = {
    now: (): number => {
      throw new Error("clock broken");
    },
  };
  await assert.rejects(Controller.start(config, { clock }), /clock broken/);
  // The resource sanitizer fails this test if the connection leaked; the
  // store must be closed too, or opening it again would fail on its lock.
  await using controller = await Controller.start(config);
  await controller.conn.waitSubscribed();
  await Deno.remove(dir, { recursive: true });
});
