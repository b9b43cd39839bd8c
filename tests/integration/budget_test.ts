/**
 * The unavailability budget over a real broker: `mandrill run` as a process,
 * simulated hosts running the real agent code (a fake proc root, a simulated
 * reboot), and every "never more than N down" measured from the hosts' side.
 */
import assert from "node:assert/strict";
import { peakDown } from "../_helpers/spans.ts";
import { SimulatedFleet } from "../../src/dev/sim_fleet.ts";
import { writeTestConfig } from "../_helpers/config.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { testKeys } from "../_helpers/keys.ts";
import { waitFor } from "../_helpers/wait.ts";
import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** Hosts the running mandrill counts as unavailable (`mandrill_hosts_unavailable`, all states). */
async function unavailable(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const family = parsePrometheusTextFormat(text).find((f: { name: string }) =>
    f.name === "mandrill_hosts_unavailable"
  );
  return (family?.metrics ?? []).reduce(
    (n: number, m: { value: string }) => n + Number(m.value),
    0,
  );
}

/** Waits for a log line of `run` whose message matches `re`. */
function logged(run: MandrillProcess, re: RegExp, timeoutMs = 30_000): Promise<string> {
  return run.waitForLine({
    test: (line: string) => {
      try {
        return re.test(String(JSON.parse(line).message).replaceAll('"', ""));
      } catch {
        return false;
      }
    },
    toString: () => String(re),
  } as RegExp, { timeoutMs });
}

/** `mandrill run` on `file`, once it knows the kill switch state (it restarts nothing before). */
async function startRun(file: string): Promise<MandrillProcess> {
  const run = MandrillProcess.start(["run", "--config", file]);
  await logged(run, /Kill switch: (running|paused)/);
  return run;
}

/** A test's world: broker, events, simulated hosts, a config writer. */
async function world(hosts: string[], rebootSec: [number, number]) {
  const broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir({ prefix: "mandrill-budget-it-" });
  const events = await EventCollector.start(broker.url);
  const keys = await testKeys(dir);
  const fleet = await SimulatedFleet.start({
    url: broker.url,
    hosts,
    dir: `${dir}/fleet`,
    heartbeatSec: 0.2,
    rebootSec,
    agent: { security: { controllerKeyFile: keys.pubFile } },
  });
  const pub = await connectClient(broker.url);
  return {
    broker,
    dir,
    events,
    fleet,
    pub,
    /** Writes a `mandrill run` config with agent hosts `hosts` (name -> group). */
    config: (groups: Record<string, string | undefined>, overrides: Record<string, unknown>) =>
      writeTestConfig(dir, broker.url, {
        executors: { agent: { type: "agent", timeoutSec: 10, staleSec: 3 } },
        security: { commandKeyFile: keys.keyFile },
        hosts: Object.fromEntries(
          Object.entries(groups).map(([h, g]) => [
            h,
            g ? { executor: "agent", group: g } : {
              executor: "agent",
            },
          ]),
        ),
        recovery: { probeIntervalSec: 0.2, timeoutSec: 60 },
        ...overrides,
      }),
    request: (id: string, host: string) =>
      publishAll(pub, "mandrill/restart", [JSON.stringify({ id, host })]),
    /** Each request's phases so far (with details), for a timeout's message. */
    seen: () =>
      events.events.map((e) => `${e.id}:${e.phase}${e.detail ? ` (${e.detail})` : ""}`).join(", "),
    /** The one terminal event of `id` (there must be exactly one). */
    async ended(id: string) {
      const terminal = ["succeeded", "failed", "skipped", "rejected", "interrupted"];
      const e = await waitFor(
        () => events.events.find((e) => e.id === id && terminal.includes(e.phase)),
        { what: `the end of ${id}`, timeoutMs: 60_000 },
      );
      return e;
    },
    async [Symbol.asyncDispose]() {
      await pub[Symbol.asyncDispose]();
      await fleet[Symbol.asyncDispose]();
      await events[Symbol.asyncDispose]();
      await broker[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("budget: three hosts of one group requested at once with maxUnavailablePerGroup 1 go down one after another", async () => {
  const hosts = ["web-1", "web-2", "web-3"];
  await using w = await world(hosts, [1.5, 1.5]);
  const file = await w.config(Object.fromEntries(hosts.map((h) => [h, "web"])), {
    policy: { maxUnavailablePerGroup: 1, minIntervalSec: 0 },
  });
  await using _run = await startRun(file);
  await Promise.all(hosts.map((h, i) => w.request(`r-${i}`, h)));
  await waitFor(() => w.events.phase("recovered").length === 3, {
    what: () => `all three recovered; seen ${w.seen()}`,
    timeoutMs: 60_000,
  });
  const spans = [...w.fleet.hosts.values()].flatMap((h) => h.downs);
  assert.equal(spans.length, 3, "each host went down once");
  assert.equal(peakDown(spans), 1, "two hosts of the group were down at once");
  for (const h of w.fleet.hosts.values()) assert.equal(h.restarts.length, 1, `${h.host} restarts`);
  // One after another: each start came after the previous host was back.
  const started = w.events.phase("started").sort((a, b) => a.ts - b.ts);
  const recovered = w.events.phase("recovered").sort((a, b) => a.ts - b.ts);
  assert.equal(started.length, 3);
  for (let i = 1; i < 3; i++) {
    assert.ok(started[i]!.ts >= recovered[i - 1]!.ts, `start ${i} before recovery ${i - 1}`);
  }
  for (const id of ["r-0", "r-1", "r-2"]) {
    assert.equal(w.events.events.filter((e) => e.id === id && e.phase === "succeeded").length, 1);
  }
});

Deno.test("budget: a request waits while another host of its group is offline, and is skipped after maxWaitSec naming it", async () => {
  await using w = await world(["web-1", "web-2"], [1, 1]);
  const file = await w.config({ "web-1": "web", "web-2": "web" }, {
    policy: { maxUnavailablePerGroup: 1, minIntervalSec: 0, maxWaitSec: 5 },
  });
  await using run = await startRun(file);
  const web1 = w.fleet.get("web-1");
  await web1.crash(); // its last will: offline
  await w.request("r-1", "web-2");
  await logged(run, /Request r-1 for web-2 waits: group web: web-1 offline/);
  await web1.boot();
  const started = await waitFor(() => w.events.phase("started").find((e) => e.id === "r-1"), {
    what: "r-1 to start once web-1 is back",
  });
  const backAt = w.fleet.get("web-1").downs[0]!.to!;
  assert.ok(started.ts - backAt < 5_000, `started ${started.ts - backAt} ms after web-1 was back`);
  await waitFor(() => w.events.phase("recovered").some((e) => e.id === "r-1"), {
    what: "web-2 back",
    timeoutMs: 30_000,
  });

  await web1.crash();
  await w.request("r-2", "web-2");
  const skipped = await w.ended("r-2");
  assert.equal(skipped.phase, "skipped");
  assert.match(
    skipped.detail ?? "",
    /^waited 5s for the budget \(maxWaitSec 5\): group web: web-1 offline/,
  );
  assert.equal(w.fleet.get("web-2").restarts.length, 1, "web-2 restarted while web-1 was down");
});

Deno.test('budget: "50%" of a group of 4 never has more than 2 down', async () => {
  const hosts = ["w-1", "w-2", "w-3", "w-4"];
  await using w = await world(hosts, [1.5, 1.5]);
  const file = await w.config(Object.fromEntries(hosts.map((h) => [h, "web"])), {
    policy: { maxUnavailablePerGroup: "50%", minIntervalSec: 0 },
  });
  await using _run = await startRun(file);
  await Promise.all(hosts.map((h, i) => w.request(`r-${i}`, h)));
  await waitFor(() => w.events.phase("recovered").length === 4, {
    what: () => `all four recovered; seen ${w.seen()}`,
    timeoutMs: 60_000,
  });
  const spans = [...w.fleet.hosts.values()].flatMap((h) => h.downs);
  assert.equal(spans.length, 4);
  assert.equal(peakDown(spans), 2, "the group's budget of 2 was not used, or exceeded");
});

Deno.test("budget: after a kill -9 while two hosts are coming back, they still count, and are still reported recovered", async () => {
  const hosts = ["w-1", "w-2", "w-3"];
  await using w = await world(hosts, [6, 6]);
  const file = await w.config(Object.fromEntries(hosts.map((h) => [h, "web"])), {
    policy: { maxUnavailablePerGroup: 2, minIntervalSec: 0 },
  });
  const first = await startRun(file);
  await w.request("r-1", "w-1");
  await w.request("r-2", "w-2");
  await waitFor(() => w.events.phase("succeeded").length === 2, { what: "both restarted" });
  first.kill("SIGKILL");
  await first.exited();
  await using second = await startRun(file);
  await w.request("r-3", "w-3");
  await logged(second, /Request r-3 for w-3 waits: group web: w-\d (coming back|offline)/);
  await waitFor(() => w.events.phase("recovered").length === 2, {
    what: "w-1 and w-2 recovered after the restart of mandrill",
    timeoutMs: 30_000,
  });
  assert.deepEqual(w.events.phase("recovered").map((e) => e.id).sort(), ["r-1", "r-2"]);
  await waitFor(() => w.fleet.get("w-3").restarts.length === 1, { what: "w-3 restarted" });
  const spans = [...w.fleet.hosts.values()].flatMap((h) => h.downs);
  assert.equal(peakDown(spans), 2, "a third host of the group went down");
});

Deno.test("budget: the breaker pauses everything after three restarts that never come back; resume lets the next run", async () => {
  const hosts = ["a", "b", "c", "d"];
  await using w = await world(hosts, [600, 600]); // they never come back in time
  const file = await w.config(Object.fromEntries(hosts.map((h) => [h, undefined])), {
    http: { listen: "127.0.0.1:0" },
    policy: { minIntervalSec: 0, maxUnavailable: 10 },
    recovery: { probeIntervalSec: 0.2, timeoutSec: 2 },
  });
  await using run = await startRun(file);
  const port = await run.httpPort();
  await waitFor(async () => (await unavailable(port)) === 0, { what: "every agent heard from" });
  for (const [i, h] of ["a", "b", "c"].entries()) await w.request(`r-${i}`, h);
  await logged(run, /Breaker tripped, engaging the kill switch: breaker: 3 restarts failed/);
  const notBack = () =>
    w.events.phase("failed").filter((e) => /did not come back/.test(e.detail ?? ""));
  await waitFor(() => notBack().length === 3, { what: "three did-not-come-back events" });
  // What every instance sees: the retained pause, with the breaker's reason.
  const watcher = await connectClient(w.broker.url);
  const retained = Promise.withResolvers<string>();
  watcher.on("message", (_t, payload) => retained.resolve(new TextDecoder().decode(payload)));
  await watcher.subscribeAsync("mandrill/control", { qos: 1 });
  const control = JSON.parse(await retained.promise);
  await watcher.endAsync(true);
  assert.equal(control.paused, true);
  assert.match(control.reason, /^breaker: 3 restarts failed within 3600s \((a, b, c|.*)\)$/);
  await w.request("r-3", "d");
  const skipped = await w.ended("r-3");
  assert.equal(skipped.phase, "skipped");
  assert.match(skipped.detail ?? "", /^paused: breaker:/);
  assert.equal(w.fleet.get("d").restarts.length, 0, "an agent got a command while paused");

  const resume = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-check", "main.ts", "resume", "--config", file],
    cwd: new URL("../..", import.meta.url).pathname,
  }).output();
  assert.equal(resume.code, 0, new TextDecoder().decode(resume.stderr));
  await logged(run, /Kill switch released/);
  await w.request("r-4", "d");
  assert.equal((await w.ended("r-4")).phase, "succeeded");
  assert.equal(w.fleet.get("d").restarts.length, 1);
});

Deno.test('budget: recovery "none" with a health check that fails twice: recovered only once it passes', async () => {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir({ prefix: "mandrill-health-it-" });
  const count = `${dir}/checks`;
  const check = `n=$(cat '${count}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '${count}'; ` +
    `[ "$1" = svc-1 ] && [ $n -ge 3 ]`;
  const file = await writeTestConfig(dir, broker.url, {
    executors: {
      local: {
        type: "command",
        argv: ["true"],
        healthCheck: { argv: ["sh", "-c", check, "sh"], timeoutSec: 5 },
      },
    },
    hosts: { "svc-1": { executor: "local" } },
    policy: { minIntervalSec: 0 },
    recovery: { probeIntervalSec: 0.2, probeMaxIntervalSec: 0.4 },
  });
  await using events = await EventCollector.start(broker.url);
  await using _run = await startRun(file);
  await using pub = await connectClient(broker.url);
  await publishAll(pub, "mandrill/restart", [JSON.stringify({ id: "h-1", host: "svc-1" })]);
  const recovered = await waitFor(() => events.phase("recovered").find((e) => e.id === "h-1"), {
    what: "svc-1 recovered",
  });
  const checksThen = Number(await Deno.readTextFile(count));
  assert.equal(checksThen, 3, "recovered before the health check passed, or checked on after");
  assert.match(recovered.detail ?? "", /^back after \d+\.\ds$/);
  const succeeded = events.events.filter((e) => e.id === "h-1" && e.phase === "succeeded");
  assert.equal(succeeded.length, 1);
  assert.ok(succeeded[0]!.ts <= recovered.ts);
  await Deno.remove(dir, { recursive: true });
});
