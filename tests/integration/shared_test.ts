/**
 * Scale-out: two `mandrill run` instances share the load through an MQTT
 * shared subscription; each request runs exactly once, on one of them; when
 * one shuts down, the other takes every new request.
 */
import assert from "node:assert/strict";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { readLines } from "../_helpers/files.ts";
import { hostsConfig, recordingArgv, writeTestConfig } from "../_helpers/config.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test("shared group: two instances split the requests, each runs once; one leaving hands the rest to the other", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const configFor = (name: string) =>
    writeTestConfig(dir, broker.url, {
      mqtt: { clientId: `mandrill-${name}`, sharedGroup: "fleet" },
      executors: {
        local: { type: "command", argv: recordingArgv(`${dir}/executed.txt`, { suffix: name }) },
      },
      hosts: hostsConfig(50),
      policy: {
        minIntervalSec: 0,
        maxPerHour: 100000,
        maxUnavailable: 8,
        maxUnavailablePerGroup: 8,
      },
    }, name);
  await using events = await EventCollector.start(broker.url);
  await using a = MandrillProcess.start(["run", "--config", await configFor("a")]);
  await using b = MandrillProcess.start(["run", "--config", await configFor("b")]);
  await Promise.all([
    a.waitForLine(/Subscribed to/),
    b.waitForLine(/Subscribed to/),
  ]);
  await using pub = await connectClient(broker.url);
  await publishAll(
    pub,
    "mandrill/restart",
    Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: `s-${i}`, host: `web-${i % 50}` })),
  );
  await waitFor(() => events.phase("succeeded").length >= 200, {
    what: "200 restarts",
    timeoutMs: 60_000,
  });
  const first = (await readLines(`${dir}/executed.txt`)).map((l) => l.split(" "));
  assert.equal(new Set(first.map((l) => l[1])).size, 200, "an id ran twice or not at all");
  const byA = first.filter((l) => l[2] === "a").length;
  assert.ok(byA > 0 && byA < 200, `the load was not shared: a ran ${byA} of 200`);

  a.kill("SIGTERM");
  assert.equal((await a.exited()).code, 0);
  await publishAll(
    pub,
    "mandrill/restart",
    Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `t-${i}`, host: `web-${i}` })),
  );
  await waitFor(
    () =>
      events.events.filter((e) => e.id.startsWith("t-") && e.phase === "succeeded").length === 50,
    {
      what: "b to take every request after a left",
      timeoutMs: 60_000,
    },
  );
  const later = (await readLines(`${dir}/executed.txt`)).map((l) => l.split(" ")).filter((l) =>
    l[1]!.startsWith("t-")
  );
  assert.equal(later.length, 50);
  assert.ok(later.every((l) => l[2] === "b"));
  b.kill("SIGTERM");
  assert.equal((await b.exited()).code, 0);
  await Deno.remove(dir, { recursive: true });
});
