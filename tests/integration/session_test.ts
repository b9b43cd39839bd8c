/**
 * A changed subscription on a kept session: `topicPrefix` changes while the
 * `clientId` (and so the broker's session) stays. Requests on the new topic
 * run; a request the old subscription still delivers is dead-lettered with a
 * reason, not acknowledged and lost; the stale subscription is removed.
 */
import assert from "node:assert/strict";
import { SqliteStore } from "../../src/store/mod.ts";
import { recordingArgv, writeTestConfig } from "../_helpers/config.ts";
import { readLines } from "../_helpers/files.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test("session: after topicPrefix changed on a kept session, the new topic works and the old one is dead-lettered", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const out = `${dir}/executed.txt`;
  const config = (prefix: string) =>
    writeTestConfig(dir, broker.url, {
      mqtt: { topicPrefix: prefix, clientId: "mandrill-session-it", sessionExpirySec: 600 },
      executors: { local: { type: "command", argv: recordingArgv(out) } },
      hosts: { "web-1": { executor: "local" } },
      policy: { minIntervalSec: 0 },
    }, prefix);
  // The store is the same file for both configs (`{dir}/m.db`).
  const fileA = await config("pa");
  const fileB = await config("pb");
  for (const f of [fileA, fileB]) {
    const c = JSON.parse(await Deno.readTextFile(f));
    c.store.path = `${dir}/m.db`;
    await Deno.writeTextFile(f, JSON.stringify(c));
  }
  await using pub = await connectClient(broker.url);
  {
    await using a = MandrillProcess.start(["run", "--config", fileA]);
    await a.waitForLine(/Subscribed to/);
    // What the next run removes from the kept session: the filters it remembered.
    await waitFor(() => {
      using reader = SqliteStore.openReader(`${dir}/m.db`);
      return reader.metaGet("mqtt.filters")?.includes("pa/restart");
    }, { what: "the first run's filters in the store" });
    a.kill("SIGTERM");
    assert.equal((await a.exited()).code, 0);
  }
  // While it is down, the broker queues this for the old subscription.
  await publishAll(pub, "pa/restart", [JSON.stringify({ id: "old-1", host: "web-1" })]);

  await using events = await EventCollector.start(broker.url, "pb");
  await using b = MandrillProcess.start(["run", "--config", fileB]);
  const dead = await waitFor(() => events.deadLetters.find((d) => d.topic === "pa/restart"), {
    what: "the old topic's request dead-lettered",
  });
  assert.match(dead.error, /mandrill does not serve pa\/restart/);
  assert.match(dead.payload, /old-1/);
  await b.waitForLine(/Removed the subscription \\?"?pa\/restart/);
  await b.waitForLine(/Subscribed to/);
  await publishAll(pub, "pb/restart", [JSON.stringify({ id: "new-1", host: "web-1" })]);
  await waitFor(async () => (await readLines(out)).some((l) => l.endsWith(" new-1")), {
    what: "the new topic's request executed",
  });
  // The stale subscription is gone: a later request on the old topic reaches nobody.
  await publishAll(pub, "pa/restart", [JSON.stringify({ id: "old-2", host: "web-1" })]);
  await publishAll(pub, "pb/restart", [JSON.stringify({ id: "new-2", host: "web-1" })]);
  await waitFor(async () => (await readLines(out)).some((l) => l.endsWith(" new-2")), {
    what: "new-2 executed",
  });
  assert.equal(events.deadLetters.filter((d) => /old-2/.test(d.payload)).length, 0);
  b.kill("SIGTERM");
  assert.equal((await b.exited()).code, 0);
  using store = SqliteStore.openReader(`${dir}/m.db`);
  assert.equal(store.get("old-1"), undefined, "a request on the old topic was executed");
  assert.ok(store.deadLetters().some((d) => d.topic === "pa/restart" && /old-1/.test(d.payload)));
  assert.deepEqual((await readLines(out)).map((l) => l.split(" ")[1]), ["new-1", "new-2"]);
  await Deno.remove(dir, { recursive: true });
});
