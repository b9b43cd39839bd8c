/**
 * `mandrill run` as a real process over a real Mosquitto: kill -9 in the
 * middle of a burst, and a broker restart mid-stream. Nothing lost, nothing
 * done twice.
 */
import assert from "node:assert/strict";
import { SqliteStore } from "../../src/store/mod.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { readLines, waitAllDone } from "../_helpers/files.ts";
import { hostsConfig, recordingArgv, writeTestConfig } from "../_helpers/config.ts";

/** A config whose executor records "host id" in executed.txt; stored as m.db and m.json in `dir`. */
function writeConfig(dir: string, url: string, hosts: number): Promise<string> {
  return writeTestConfig(dir, url, {
    mqtt: { clientId: "mandrill-crash", reconnectMinMs: 100, reconnectMaxMs: 1000 },
    executors: {
      local: {
        type: "command",
        argv: recordingArgv(`${dir}/executed.txt`, { after: "sleep 0.02" }),
      },
    },
    hosts: hostsConfig(hosts),
    policy: { minIntervalSec: 0, maxPerHour: 100000, maxUnavailable: 8, maxUnavailablePerGroup: 8 },
  });
}

/** Every id ends in the store with an outcome; returns executed ids and outcomes. */
function accountFor(dbPath: string, ids: string[]) {
  using store = SqliteStore.open(dbPath);
  const outcomes = new Map<string, string>();
  for (const id of ids) {
    const row = store.get(id);
    assert.ok(row, `request ${id} is silently missing from the inbox`);
    assert.equal(row.state, "done", `request ${id} did not finish (${row.state})`);
    outcomes.set(id, row.outcome!);
  }
  return outcomes;
}

Deno.test("run: kill -9 in the middle of a 2,000-request burst loses nothing and runs nothing twice", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(dir, broker.url, 50);
  await using events = await EventCollector.start(broker.url);
  const ids = Array.from({ length: 2000 }, (_, i) => `k-${i}`);
  {
    await using first = MandrillProcess.start(["run", "--config", config]);
    await first.waitForLine(/Subscribed to/);
    await using pub = await connectClient(broker.url);
    const publishing = Promise.all(
      ids.map((id, i) =>
        pub.publishAsync("mandrill/restart", JSON.stringify({ id, host: `web-${i % 50}` }), {
          qos: 1,
        })
      ),
    );
    await waitFor(async () => (await readLines(`${dir}/executed.txt`)).length >= 200, {
      what: "200 executions",
    });
    first.kill("SIGKILL");
    await first.exited();
    await publishing; // the broker holds the rest in mandrill's session
  }
  const executedBefore = (await readLines(`${dir}/executed.txt`)).length;
  assert.ok(executedBefore < 2000, "the kill came too late to prove anything");
  {
    await using second = MandrillProcess.start(["run", "--config", config]);
    await waitAllDone(`${dir}/m.db`, 2000, 120_000);
    second.kill("SIGTERM");
    assert.equal((await second.exited()).code, 0);
  }
  const executed = (await readLines(`${dir}/executed.txt`)).map((l) => l.split(" ")[1]!);
  assert.equal(new Set(executed).size, executed.length, "an id was executed twice");
  const outcomes = accountFor(`${dir}/m.db`, ids);
  const executedSet = new Set(executed);
  for (const [id, outcome] of outcomes) {
    if (outcome === "succeeded") {
      assert.ok(executedSet.has(id), `${id} reported succeeded but never ran`);
    } else assert.ok(outcome === "interrupted" || outcome === "skipped", `${id} ended ${outcome}`);
  }
  const interrupted = [...outcomes].filter(([, o]) => o === "interrupted").map(([id]) => id);
  const interruptedEvents = new Set(events.phase("interrupted").map((e) => e.id));
  for (const id of interrupted) {
    assert.ok(interruptedEvents.has(id), `${id} interrupted without an event`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run: a broker restart mid-stream loses no request", async () => {
  await using broker = await Mosquitto.start({ persistence: true });
  const dir = await Deno.makeTempDir();
  const config = await writeConfig(dir, broker.url, 100);
  const ids = Array.from({ length: 600 }, (_, i) => `b-${i}`);
  await using proc = MandrillProcess.start(["run", "--config", config]);
  await proc.waitForLine(/Subscribed to/);
  {
    await using pub = await connectClient(broker.url, "publisher-b");
    const first = ids.slice(0, 300).map((id, i) =>
      pub.publishAsync("mandrill/restart", JSON.stringify({ id, host: `web-${i % 100}` }), {
        qos: 1,
      })
    );
    await Promise.all(first);
    await waitFor(async () => (await readLines(`${dir}/executed.txt`)).length >= 50, {
      what: "50 executions",
    });
    await broker.stop();
    await broker.start();
    await waitFor(() => proc.lines.filter((l) => /Connected to/.test(l)).length >= 2, {
      what: "mandrill to reconnect",
    });
    const reconnect = proc.lines.filter((l) => /Connected to/.test(l))[1]!;
    assert.equal(
      JSON.parse(reconnect).sessionPresent,
      true,
      "the broker did not persist mandrill's session",
    );
    await pub.endAsync();
  }
  {
    await using pub = await connectClient(broker.url, "publisher-b2");
    await Promise.all(
      ids.slice(300).map((id, i) =>
        pub.publishAsync("mandrill/restart", JSON.stringify({ id, host: `web-${i % 100}` }), {
          qos: 1,
        })
      ),
    );
  }
  await waitAllDone(`${dir}/m.db`, 600, 120_000);
  proc.kill("SIGTERM");
  assert.equal((await proc.exited()).code, 0);
  const executed = (await readLines(`${dir}/executed.txt`)).map((l) => l.split(" ")[1]!);
  assert.equal(new Set(executed).size, executed.length, "an id was executed twice");
  const outcomes = accountFor(`${dir}/m.db`, ids);
  const ok = [...outcomes.values()].filter((o) => o === "succeeded").length;
  assert.equal(ok, 600, `only ${ok} of 600 succeeded`);
  await Deno.remove(dir, { recursive: true });
});
