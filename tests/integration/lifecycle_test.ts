/**
 * `mandrill run`'s lifecycle as a real process: graceful SIGTERM with work in
 * flight, SIGHUP reloads, and the global error net.
 */
import assert from "node:assert/strict";
import { SqliteStore } from "../../src/store/mod.ts";
import { insertRows } from "../_helpers/store.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { readLines, waitAllDone } from "../_helpers/files.ts";
import { hostsConfig, testConfig, writeTestConfig } from "../_helpers/config.ts";

Deno.test("run: SIGTERM with 20 restarts in flight and graceSec 1 exits 0 quickly; a restart accounts for every id", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  // Slow (10 s) until the test creates the "fast" file.
  const script = `${dir}/restart.sh`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\necho "$1 $MANDRILL_REQUEST_ID" >> "${dir}/executed.txt"\n[ -e "${dir}/fast" ] || exec sleep 10\n`,
  );
  await Deno.chmod(script, 0o755);
  const file = await writeTestConfig(dir, broker.url, {
    executors: { local: { type: "command", argv: [script], timeoutSec: 60 } },
    hosts: hostsConfig(25),
    policy: { minIntervalSec: 0, maxUnavailable: 20, maxUnavailablePerGroup: 20 },
    shutdown: { graceSec: 1 },
  });
  const ids = Array.from({ length: 25 }, (_, i) => `t-${i}`);
  {
    await using proc = MandrillProcess.start(["run", "--config", file]);
    await proc.waitForLine(/Subscribed to/);
    await using pub = await connectClient(broker.url);
    await publishAll(
      pub,
      "mandrill/restart",
      ids.map((id, i) => JSON.stringify({ id, host: `web-${i}` })),
    );
    await waitFor(async () => (await readLines(`${dir}/executed.txt`)).length >= 20, {
      what: "20 restarts in flight",
    });
    proc.kill("SIGUSR1");
    await proc.waitForLine(/25 requests in flight/);
    await waitFor(
      () =>
        proc.lines.filter((l) => /in flight: /.test(l) && JSON.parse(l).phase === "executing")
          .length === 20,
      {
        what: "SIGUSR1 to log every task in flight",
      },
    );
    const t0 = performance.now();
    proc.kill("SIGTERM");
    const status = await proc.exited();
    const tookMs = performance.now() - t0;
    assert.equal(status.code, 0, proc.lines.slice(-10).join("\n"));
    assert.ok(tookMs < 3000, `exit took ${Math.round(tookMs)} ms`);
    assert.ok(proc.lines.some((l) => /Grace period over: aborting/.test(l)));
  }
  await Deno.writeTextFile(`${dir}/fast`, "");
  {
    await using proc = MandrillProcess.start(["run", "--config", file]);
    await waitAllDone(`${dir}/m.db`, 25, 30_000);
    proc.kill("SIGTERM");
    assert.equal((await proc.exited()).code, 0);
  }
  const executed = (await readLines(`${dir}/executed.txt`)).map((l) => l.split(" ")[1]!);
  assert.equal(new Set(executed).size, executed.length, "an id ran twice");
  using store = SqliteStore.openReader(`${dir}/m.db`);
  const outcomes = ids.map((id) => store.get(id)!.outcome);
  assert.equal(outcomes.filter((o) => o === "interrupted").length, 20, outcomes.join(","));
  assert.equal(outcomes.filter((o) => o === "succeeded").length, 5, outcomes.join(","));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run: SIGHUP keeps the old config when the new one is broken, and applies a valid one live", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const file = `${dir}/mandrill.json`;
  const base = testConfig(dir, broker.url, {
    executors: {
      local: { type: "command", argv: ["sh", "-c", `echo "$1" >> '${dir}/executed.txt'`, "sh"] },
    },
    policy: { minIntervalSec: 0 },
  });
  await Deno.writeTextFile(
    file,
    JSON.stringify({ ...base, hosts: { "web-0": { executor: "local" } } }),
  );
  await using events = await EventCollector.start(broker.url);
  await using proc = MandrillProcess.start(["run", "--config", file]);
  await proc.waitForLine(/Subscribed to/);
  await using pub = await connectClient(broker.url);
  const request = async (id: string) => {
    await publishAll(pub, "mandrill/restart", [JSON.stringify({ id, host: "web-1" })]);
    return await waitFor(
      () =>
        events.events.find((e) => e.id === id && e.phase !== "received" && e.phase !== "started"),
      {
        what: `the outcome of ${id}`,
      },
    );
  };
  assert.match((await request("h-1")).detail ?? "", /^unknown host/);

  await Deno.writeTextFile(
    file,
    JSON.stringify({
      ...base,
      hosts: { "web-1": { executor: "nope" } },
      policy: { maxUnavailable: -1 },
    }),
  );
  proc.kill("SIGHUP");
  await proc.waitForLine(/Reload rejected/);
  const rejected = proc.lines.find((l) => /Reload rejected/.test(l))!;
  assert.match(rejected, /policy\.maxUnavailable/);
  assert.match(rejected, /unknown executor/);
  assert.match((await request("h-2")).detail ?? "", /^unknown host/);

  await Deno.writeTextFile(
    file,
    JSON.stringify({
      ...base,
      hosts: { "web-0": { executor: "local" }, "web-1": { executor: "local" } },
    }),
  );
  proc.kill("SIGHUP");
  await proc.waitForLine(/Reloaded/);
  assert.equal((await request("h-3")).phase, "succeeded");
  assert.deepEqual(await readLines(`${dir}/executed.txt`), ["web-1"]);
  proc.kill("SIGTERM");
  assert.equal((await proc.exited()).code, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run: a bug in an unexpected place ends the process non-zero with a log line naming it", async (t) => {
  await using broker = await Mosquitto.start();
  for (const fault of ["throw", "reject"]) {
    await t.step(fault, async () => {
      const dir = await Deno.makeTempDir();
      const file = await writeTestConfig(dir, broker.url);
      await using proc = MandrillProcess.start(["run", "--config", file], {
        env: { MANDRILL_TEST_FAULT: fault },
      });
      const status = await proc.exited();
      assert.notEqual(status.code, 0);
      const line = proc.lines.find((l) => /test fault/.test(l) && /Unexpected/.test(l));
      assert.ok(line, proc.lines.slice(-10).join("\n"));
      assert.equal(JSON.parse(line).level, "FATAL");
      assert.ok(proc.lines.some((l) => /Shutdown complete/.test(l)), "no graceful shutdown");
      await Deno.remove(dir, { recursive: true });
    });
  }
});

Deno.test("run: started while paused, mandrill restarts nothing, not even requests left pending from before", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const file = await writeTestConfig(dir, broker.url, {
    executors: {
      local: { type: "command", argv: ["sh", "-c", `echo "$1" >> '${dir}/executed.txt'`, "sh"] },
    },
    hosts: { "web-1": { executor: "local" } },
  });
  {
    using store = SqliteStore.open(`${dir}/m.db`);
    insertRows(store, [{ id: "left-over", host: "web-1" }]);
  }
  const paused = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--no-check",
      new URL("../../main.ts", import.meta.url).pathname,
      "pause",
      "--config",
      file,
      "--reason",
      "freeze",
    ],
  }).output();
  assert.equal(paused.code, 0, new TextDecoder().decode(paused.stderr));
  await using events = await EventCollector.start(broker.url);
  await using proc = MandrillProcess.start(["run", "--config", file]);
  const skipped = await waitFor(
    () => events.events.find((e) => e.id === "left-over" && e.phase !== "received"),
    {
      what: "the left-over request's outcome",
    },
  );
  assert.equal(skipped.phase, "skipped");
  assert.match(skipped.detail ?? "", /^paused: freeze/);
  assert.deepEqual(await readLines(`${dir}/executed.txt`), []);
  proc.kill("SIGTERM");
  assert.equal((await proc.exited()).code, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run: SIGTERM while a burst is still arriving logs no ERROR line, exits 0, and loses nothing", async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const file = await writeTestConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-sigterm-burst" },
    executors: { local: { type: "command", argv: ["/bin/true"] } },
    hosts: hostsConfig(100),
    policy: { dryRun: true, minIntervalSec: 0 },
  });
  const ids = Array.from({ length: 3_000 }, (_, i) => `b-${i}`);
  {
    await using proc = MandrillProcess.start(["run", "--config", file]);
    await proc.waitForLine(/Subscribed to/);
    await using pub = await connectClient(broker.url);
    // Paced (50 every 10 ms, about 1.5 s in all), so the SIGTERM lands mid-burst.
    const sending = (async () => {
      for (let i = 0; i < ids.length; i += 50) {
        const chunk = ids.slice(i, i + 50);
        await publishAll(
          pub,
          "mandrill/restart",
          chunk.map((id, k) => JSON.stringify({ id, host: `web-${(i + k) % 100}` })),
        );
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await waitFor(() => {
      using store = SqliteStore.openReader(`${dir}/m.db`);
      const c = store.counts();
      return c.done + c.pending + c.started >= 200;
    }, { what: "the burst arriving" });
    proc.kill("SIGTERM"); // messages keep arriving while it drains
    assert.equal((await proc.exited()).code, 0, proc.lines.slice(-10).join("\n"));
    await sending;
    {
      using store = SqliteStore.openReader(`${dir}/m.db`);
      assert.ok(store.counts().done < ids.length, "the burst ended before the SIGTERM");
    }
    const bad = proc.lines.filter((l) => /"level":"(ERROR|FATAL)"/.test(l));
    assert.deepEqual(bad, [], `${bad.length} ERROR lines on a normal SIGTERM`);
  }
  {
    // Whatever was not acknowledged is redelivered to the next start.
    await using proc = MandrillProcess.start(["run", "--config", file]);
    await proc.waitForLine(/Subscribed to/);
    await waitAllDone(`${dir}/m.db`, ids.length, 60_000);
    proc.kill("SIGTERM");
    assert.equal((await proc.exited()).code, 0);
  }
  await Deno.remove(dir, { recursive: true });
});
