import assert from "node:assert/strict";
import { Agent, type AgentOptions } from "../../src/agent/agent.ts";
import type { RestartResult, RestartRunner } from "../../src/agent/runner.ts";
import { FakeClock } from "../../src/clock.ts";
import { parseAgentConfig } from "../../src/config/mod.ts";
import type { AgentCommand } from "../../src/contract/messages.ts";
import { FakeMqtt } from "../_helpers/fake_mqtt.ts";
import { waitFor } from "../_helpers/wait.ts";

const COMMANDS = "mandrill/agents/web-1/commands";
const RESULTS = "mandrill/agents/web-1/results";
const STATUS = "mandrill/agents/web-1/status";
const HEARTBEAT = "mandrill/agents/web-1/heartbeat";

/** A well-formed command for web-1, valid now (the agents here allow unsigned ones). */
function cmd(id: string, extra: Partial<AgentCommand> = {}): AgentCommand {
  const now = new FakeClock().now();
  return { id, action: "restart", host: "web-1", issuedAt: now, expiresAt: now + 60_000, ...extra };
}

/** A temp dir with a fake procRoot (boot id `bootId`, uptime 500.25) and a state file path. */
async function host(bootId = "boot-1") {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-agent-" });
  await Deno.mkdir(`${dir}/proc/sys/kernel/random`, { recursive: true });
  await Deno.writeTextFile(`${dir}/proc/uptime`, "500.25 900.00\n");
  await Deno.writeTextFile(`${dir}/proc/sys/kernel/random/boot_id`, `${bootId}\n`);
  return {
    dir,
    stateFile: `${dir}/state.json`,
    config: (extra: Record<string, unknown> = {}) =>
      parseAgentConfig({
        mqtt: { url: "mqtt://127.0.0.1:1" },
        host: "web-1",
        heartbeatSec: 3600,
        stateFile: `${dir}/state.json`,
        procRoot: `${dir}/proc`,
        security: { allowUnsigned: true },
        ...extra,
      }),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A runner recording its calls; each call waits for `gate` when set. */
function fakeRunner(result: RestartResult = { ok: true, detail: "rebooting" }) {
  const calls: AgentCommand[] = [];
  const state = { gate: undefined as Promise<void> | undefined, onCall: (_c: AgentCommand) => {} };
  const run: RestartRunner = async (command, signal) => {
    calls.push(command);
    state.onCall(command);
    if (state.gate) {
      const aborted = new Promise<void>((resolve) =>
        signal?.addEventListener("abort", () => resolve(), { once: true })
      );
      await Promise.race([state.gate, aborted]);
      if (signal?.aborted) return { ok: false, detail: "aborted" };
    }
    return result;
  };
  return { run, calls, state };
}

async function start(
  config: ReturnType<Awaited<ReturnType<typeof host>>["config"]>,
  conn: FakeMqtt,
  options: AgentOptions = {},
): Promise<Agent> {
  return await Agent.start(config, {
    connect: conn.connector(),
    clock: new FakeClock(),
    ...options,
  });
}

Deno.test("Agent connects with its own client id, a persistent session and a retained offline will", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  await using _agent = await start(h.config(), conn, { runner: fakeRunner().run });
  assert.equal(conn.settings?.clientId, "mandrill-agent-web-1");
  assert.equal(conn.options?.persistent, true);
  assert.deepEqual(conn.options?.will, {
    topic: STATUS,
    payload: JSON.stringify({ state: "offline", ts: new FakeClock().now() }),
    qos: 1,
    retain: true,
  });
  assert.deepEqual(conn.routes.map((r) => [r.filter, r.qos]), [[COMMANDS, 1]]);
});

Deno.test("Agent announces itself on every connect: retained online status and a heartbeat", async () => {
  await using h = await host("boot-xyz");
  const conn = new FakeMqtt();
  const clock = new FakeClock();
  await using _agent = await start(h.config(), conn, { clock, version: "9.9.9" });
  await waitFor(() => conn.on(HEARTBEAT).length === 1, { what: "first heartbeat" });
  assert.deepEqual(conn.published.find((p) => p.topic === STATUS), {
    topic: STATUS,
    payload: JSON.stringify({ state: "online", bootId: "boot-xyz", ts: clock.now() }),
    qos: 1,
    retain: true,
  });
  const hb = conn.published.find((p) => p.topic === HEARTBEAT)!;
  assert.equal(hb.qos, 0);
  assert.deepEqual(JSON.parse(hb.payload), {
    host: "web-1",
    bootId: "boot-xyz",
    uptimeSec: 500.25,
    version: "9.9.9",
    ts: clock.now(),
  });
  conn.disconnect();
  conn.connect(true);
  await waitFor(() => conn.on(HEARTBEAT).length === 2, { what: "heartbeat after reconnect" });
  assert.equal(conn.on(STATUS).length, 2, "online again after a reconnect");
});

Deno.test("Agent heartbeats every heartbeatSec while connected", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  await using _agent = await start(h.config({ heartbeatSec: 0.02 }), conn);
  await waitFor(() => conn.on(HEARTBEAT).length >= 4, { what: "4 heartbeats" });
  assert.ok(conn.published.filter((p) => p.topic === HEARTBEAT).every((p) => p.qos === 0));
});

Deno.test("Agent runs a command once, recording it durably first, and reports the result", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const runner = fakeRunner({ ok: true, detail: "rebooting" });
  let recordedBeforeRun: unknown;
  runner.state.onCall = () => {
    recordedBeforeRun = JSON.parse(Deno.readTextFileSync(h.stateFile)).commands;
  };
  await using agent = await start(h.config(), conn, { runner: runner.run });
  await conn.deliver(COMMANDS, cmd("r-1", { reason: "disk full" }));
  await waitFor(() => conn.on(RESULTS).length === 1, { what: "result" });
  assert.deepEqual(runner.calls, [cmd("r-1", { reason: "disk full" })]);
  assert.deepEqual(recordedBeforeRun, [{
    id: "r-1",
    state: "started",
    bootId: "boot-1",
    startedAt: new FakeClock().now(),
  }]);
  assert.deepEqual(conn.on(RESULTS), [{ id: "r-1", ok: true, detail: "rebooting" }]);
  assert.equal(conn.published.find((p) => p.topic === RESULTS)?.qos, 1);
  assert.equal(agent.running.size, 0);
});

Deno.test("Agent answers a duplicate id with the stored result instead of running it again", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const runner = fakeRunner({ ok: false, detail: "sudo: a password is required" });
  {
    await using _agent = await start(h.config(), conn, { runner: runner.run });
    await conn.deliver(COMMANDS, cmd("r-1"));
    await waitFor(() => conn.on(RESULTS).length === 1);
    await conn.deliver(COMMANDS, cmd("r-1"));
    await waitFor(() => conn.on(RESULTS).length === 2);
  }
  // And after a restart of the agent, from the state file.
  const conn2 = new FakeMqtt();
  await using _again = await start(h.config(), conn2, { runner: runner.run });
  await conn2.deliver(COMMANDS, cmd("r-1"));
  await waitFor(() => conn2.on(RESULTS).length === 1);
  assert.equal(runner.calls.length, 1, "ran exactly once");
  const stored = { id: "r-1", ok: false, detail: "sudo: a password is required" };
  assert.deepEqual(conn.on(RESULTS), [stored, stored]);
  assert.deepEqual(conn2.on(RESULTS), [stored]);
});

Deno.test("Agent ignores a duplicate of a command still running; one result follows", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const runner = fakeRunner();
  const gate = Promise.withResolvers<void>();
  runner.state.gate = gate.promise;
  await using agent = await start(h.config(), conn, { runner: runner.run });
  await conn.deliver(COMMANDS, cmd("r-1"));
  await waitFor(() => runner.calls.length === 1);
  await conn.deliver(COMMANDS, cmd("r-1"));
  assert.deepEqual([...agent.running], ["r-1"]);
  gate.resolve();
  await waitFor(() => conn.on(RESULTS).length === 1);
  assert.equal(runner.calls.length, 1);
  assert.deepEqual(conn.on(RESULTS), [{ id: "r-1", ok: true, detail: "rebooting" }]);
});

Deno.test("Agent runs commands one at a time, in order", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const runner = fakeRunner();
  const gate = Promise.withResolvers<void>();
  runner.state.gate = gate.promise;
  await using _agent = await start(h.config(), conn, { runner: runner.run });
  await conn.deliver(COMMANDS, cmd("r-1"));
  await conn.deliver(COMMANDS, cmd("r-2"));
  await waitFor(() => runner.calls.length === 1);
  assert.equal(runner.calls.length, 1, "r-2 waits for r-1");
  gate.resolve();
  await waitFor(() => conn.on(RESULTS).length === 2);
  assert.deepEqual(runner.calls.map((c) => c.id), ["r-1", "r-2"]);
});

Deno.test("Agent ignores invalid commands without throwing (they are acknowledged)", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const runner = fakeRunner();
  await using _agent = await start(h.config(), conn, { runner: runner.run });
  for (
    const bad of [
      "not json",
      new Uint8Array([0xff, 0x00]),
      { id: "r-1", action: "shutdown" },
      cmd("bad id!"),
      { action: "restart" },
      [1, 2],
    ]
  ) {
    await conn.deliver(COMMANDS, bad);
  }
  await conn.deliver(COMMANDS, cmd("r-ok"));
  await waitFor(() => conn.on(RESULTS).length === 1);
  assert.deepEqual(runner.calls.map((c) => c.id), ["r-ok"]);
});

Deno.test("Agent refuses to run a command it cannot record", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const runner = fakeRunner();
  await using _agent = await start(
    h.config({ stateFile: `${h.dir}/no/such/dir/state.json` }),
    conn,
    {
      runner: runner.run,
    },
  );
  await conn.deliver(COMMANDS, cmd("r-1"));
  await waitFor(() => conn.on(RESULTS).length === 1);
  assert.equal(runner.calls.length, 0);
  const [result] = conn.on(RESULTS) as { ok: boolean; detail: string }[];
  assert.equal(result!.ok, false);
  assert.match(result!.detail, /cannot record the command/);
});

Deno.test("Agent reports commands a previous run left unfinished: ok if the host rebooted", async () => {
  await using h = await host("boot-new");
  await Deno.writeTextFile(
    h.stateFile,
    JSON.stringify({
      version: 1,
      commands: [
        { id: "r-1", state: "started", bootId: "boot-old", startedAt: 1 },
        { id: "r-2", state: "started", bootId: "boot-new", startedAt: 2 },
        { id: "r-3", state: "done", bootId: "boot-old", startedAt: 0, ok: true },
      ],
    }),
  );
  const conn = new FakeMqtt();
  const runner = fakeRunner();
  await using _agent = await start(h.config(), conn, { runner: runner.run });
  await waitFor(() => conn.on(RESULTS).length === 2);
  assert.deepEqual(conn.on(RESULTS), [
    {
      id: "r-1",
      ok: true,
      detail: "the host rebooted while the restart command ran (new boot id)",
    },
    {
      id: "r-2",
      ok: false,
      detail: "interrupted: the agent stopped before the restart command ended",
    },
  ]);
  await conn.deliver(COMMANDS, cmd("r-2"));
  await waitFor(() => conn.on(RESULTS).length === 3);
  assert.equal(runner.calls.length, 0, "an interrupted command is never run again");
});

Deno.test("Agent.start() refuses a corrupt state file and a missing boot id", async () => {
  await using h = await host();
  await Deno.writeTextFile(h.stateFile, "{oops");
  await assert.rejects(start(h.config(), new FakeMqtt()), /not a valid mandrill agent state file/);
  await assert.rejects(
    start(h.config({ procRoot: `${h.dir}/nowhere` }), new FakeMqtt()),
    /Cannot read .*boot_id/,
  );
});

Deno.test("Agent.shutdown() lets the running command finish, then says offline and disconnects", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const runner = fakeRunner();
  const gate = Promise.withResolvers<void>();
  runner.state.gate = gate.promise;
  const agent = await start(h.config(), conn, { runner: runner.run });
  await conn.deliver(COMMANDS, cmd("r-1"));
  await waitFor(() => runner.calls.length === 1);
  const stopping = agent.shutdown();
  // Commands arriving now are refused, not queued for later.
  await conn.deliver(COMMANDS, cmd("r-2"));
  assert.deepEqual(conn.on(RESULTS), [{ id: "r-2", ok: false, detail: "agent is shutting down" }]);
  assert.equal(conn.closed, false, "waits for r-1");
  gate.resolve();
  await stopping;
  assert.equal(conn.closed, true);
  assert.deepEqual(conn.on(RESULTS)[1], { id: "r-1", ok: true, detail: "rebooting" });
  const last = conn.published.at(-1)!;
  assert.deepEqual({ ...last, payload: JSON.parse(last.payload) }, {
    topic: STATUS,
    payload: { state: "offline", ts: new FakeClock().now() },
    qos: 1,
    retain: true,
  });
  assert.equal(agent.shutdown(), stopping, "idempotent");
});

Deno.test("Agent.shutdown() aborts a command that outlives the grace period", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const runner = fakeRunner();
  runner.state.gate = new Promise(() => {});
  const agent = await start(h.config(), conn, { runner: runner.run, shutdownGraceMs: 50 });
  await conn.deliver(COMMANDS, cmd("r-1"));
  await waitFor(() => runner.calls.length === 1);
  await agent.shutdown();
  assert.deepEqual(conn.on(RESULTS), [{ id: "r-1", ok: false, detail: "aborted" }]);
  assert.equal(conn.closed, true);
});

Deno.test("Agent.shutdown() while disconnected skips the offline status (the will covers it)", async () => {
  await using h = await host();
  const conn = new FakeMqtt();
  const agent = await start(h.config(), conn);
  await waitFor(() => conn.on(HEARTBEAT).length === 1);
  conn.disconnect();
  await agent.shutdown();
  assert.equal(
    conn.on(STATUS).filter((s) => (s as { state: string }).state === "offline").length,
    0,
  );
  assert.equal(conn.closed, true);
});
