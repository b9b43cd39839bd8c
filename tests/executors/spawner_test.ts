import assert from "node:assert/strict";
import { executorsSchema } from "../../src/config/executors_schema.ts";
import { runProcess } from "../../src/executors/_run.ts";
import { Spawner, type SpawnSpec } from "../../src/executors/_spawner.ts";
import {
  ffiSpawner,
  type OnOutput,
  spawnChild,
  spawnerWorker,
} from "../../src/executors/_spawner_worker.ts";
import { TailBuffer } from "../../src/executors/_tail.ts";
import { buildExecutors } from "../../src/executors/mod.ts";
import { freePort } from "../_helpers/wait.ts";
import { isAlive, killQuietly, readPid, tempDir, waitFor, writeScript } from "./_helpers.ts";

/** A spawn spec for Spawner.spawn itself (runProcess builds these). */
function spec(cmd: string, overrides: Partial<SpawnSpec> = {}): SpawnSpec {
  return {
    cmd,
    args: [],
    env: {},
    detached: true,
    tailBytes: 2048,
    drainGraceMs: 1000,
    ...overrides,
  };
}

/** What a posix_spawn child wrote, as text once its output ended. */
function collect(): { onOutput: OnOutput; text(stream: 1 | 2): string } {
  const chunks: Record<1 | 2, Uint8Array[]> = { 1: [], 2: [] };
  return {
    // The bytes are a view of the spawner's read buffer, valid during the call only.
    onOutput: (stream, bytes) => chunks[stream].push(bytes.slice()),
    text: (stream) =>
      new TextDecoder().decode(new Uint8Array(chunks[stream].flatMap((c) => [...c]))),
  };
}

/** Waits until no process of `pids` is alive. */
async function waitAllDead(pids: number[]): Promise<void> {
  for (const pid of pids) {
    await waitFor(async () => !(await isAlive(pid)), { what: `pid ${pid} to die` });
  }
}

Deno.test("Spawner runs a child on its worker: exit 0 with the stdout tail", async () => {
  using spawner = new Spawner();
  assert.equal(spawner.running, false, "the worker starts lazily");
  const result = await runProcess("/bin/sh", {
    args: ["-c", "echo one; echo two"],
    timeoutMs: 10_000,
    spawner,
  });
  assert.deepEqual(result, {
    kind: "exited",
    code: 0,
    signal: null,
    stdout: "one\ntwo",
    stderr: "",
  });
  assert.equal(spawner.running, true);
  assert.equal(spawner.pending, 0);
});

Deno.test("Spawner reports a non-zero exit with the stderr tail", async () => {
  using spawner = new Spawner();
  const result = await runProcess("/bin/sh", {
    args: ["-c", "echo out; echo 'disk on fire' >&2; exit 3"],
    timeoutMs: 10_000,
    spawner,
  });
  assert.deepEqual(result, {
    kind: "exited",
    code: 3,
    signal: null,
    stdout: "out",
    stderr: "disk on fire",
  });
});

Deno.test("Spawner gives 127 for a missing program and 126 for one that is not executable", async (t) => {
  await using dir = await tempDir();
  const notExecutable = `${dir.path}/restart-host`;
  await Deno.writeTextFile(notExecutable, "#!/bin/sh\nexit 0\n");
  using spawner = new Spawner();

  await t.step("runProcess checks before spawning, without starting the worker", async () => {
    assert.deepEqual(
      await runProcess("/nonexistent/restart-host", { timeoutMs: 5000, spawner }),
      { kind: "spawn-error", code: 127, message: "/nonexistent/restart-host: command not found" },
    );
    assert.deepEqual(await runProcess(notExecutable, { timeoutMs: 5000, spawner }), {
      kind: "spawn-error",
      code: 126,
      message: `${notExecutable}: permission denied`,
    });
    assert.equal(spawner.running, false);
  });

  await t.step("the worker maps spawn failures the same way", async () => {
    assert.deepEqual(await spawner.spawn(spec("/nonexistent/restart-host")), {
      kind: "spawn-error",
      code: 127,
      message: "command not found",
    });
    assert.deepEqual(await spawner.spawn(spec(notExecutable)), {
      kind: "spawn-error",
      code: 126,
      message: "permission denied",
    });
    assert.equal(spawner.pending, 0);
  });
});

Deno.test("Spawner: a timeout kills the whole process group, grandchildren included", async () => {
  await using dir = await tempDir();
  const script = await writeScript(
    dir.path,
    "hang.sh",
    `sleep 30 & echo $! > "${dir.path}/child.pid"; echo $$ > "${dir.path}/self.pid"; wait`,
  );
  using spawner = new Spawner();
  const result = await runProcess(script, { timeoutMs: 300, spawner });
  assert.equal(result.kind, "timeout");
  assert.equal(result.kind === "timeout" && result.killedWith, "SIGTERM");
  const pids = [await readPid(`${dir.path}/self.pid`), await readPid(`${dir.path}/child.pid`)];
  await waitAllDead(pids);
});

Deno.test("Spawner: an abort kills the child, also when it fires while the spawn is in flight", async (t) => {
  await using dir = await tempDir();
  const pidFile = `${dir.path}/self.pid`;
  const script = await writeScript(dir.path, "slow.sh", `echo $$ > "${pidFile}"; sleep 30`);
  using spawner = new Spawner();

  await t.step("abort while running", async () => {
    const controller = new AbortController();
    const running = runProcess(script, { timeoutMs: 60_000, signal: controller.signal, spawner });
    const pid = await readPid(pidFile);
    const reason = new Error("shutting down");
    controller.abort(reason);
    assert.deepEqual(await running, { kind: "aborted", reason, stdout: "", stderr: "" });
    await waitAllDead([pid]);
  });

  await t.step("abort before the worker reported the pid", async () => {
    const controller = new AbortController();
    // A kill grace far beyond the test's limit: only SIGTERM can end this in time.
    const running = runProcess("/bin/sleep", {
      args: ["30"],
      timeoutMs: 60_000,
      killGraceMs: 60_000,
      signal: controller.signal,
      spawner,
    });
    controller.abort(new Error("now"));
    const started = performance.now();
    const result = await running;
    assert.equal(result.kind, "aborted");
    assert.ok(performance.now() - started < 5000, "the child outlived SIGTERM");
  });
});

Deno.test("Spawner keeps a bounded tail of big output, decoded exactly like TailBuffer", async (t) => {
  // 1 MB of two-byte characters with newlines, so cuts fall inside characters.
  const script = "yes é | head -c 1000001; echo; echo END";
  const bytes = new Uint8Array(
    (await new Deno.Command("/bin/sh", { args: ["-c", script] }).output()).stdout,
  );
  using spawner = new Spawner();
  for (const tailBytes of [1, 2, 7, 100, 2048]) {
    await t.step(`tailBytes ${tailBytes}`, async () => {
      const expected = new TailBuffer(tailBytes);
      expected.push(bytes);
      const result = await runProcess("/bin/sh", {
        args: ["-c", `(${script}) | tee /dev/stderr`],
        timeoutMs: 30_000,
        tailBytes,
        spawner,
      });
      assert.equal(result.kind, "exited");
      if (result.kind !== "exited") return;
      assert.equal(result.stdout, expected.text());
      assert.equal(result.stderr, expected.text());
      assert.ok(result.stdout.length <= tailBytes + 1, `${result.stdout.length} characters`);
    });
  }
});

Deno.test("Spawner: children get only the inherited whitelist plus the given env", async () => {
  const whitelist = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSH_AUTH_SOCK",
  ];
  Deno.env.set("MQTT_PASSWORD", "hunter2-secret");
  try {
    using spawner = new Spawner();
    const result = await runProcess("/usr/bin/env", {
      env: { MANDRILL_REQUEST_ID: "r-9" },
      timeoutMs: 10_000,
      spawner,
    });
    assert.equal(result.kind, "exited");
    const lines = result.kind === "exited" ? result.stdout.split("\n") : [];
    assert.ok(lines.includes("MANDRILL_REQUEST_ID=r-9"), lines.join("\n"));
    const names = lines.map((l) => l.slice(0, l.indexOf("=")));
    const unexpected = names.filter((n) => n !== "MANDRILL_REQUEST_ID" && !whitelist.includes(n));
    assert.deepEqual(unexpected, []);
    assert.ok(names.includes("PATH"));
  } finally {
    Deno.env.delete("MQTT_PASSWORD");
  }
});

Deno.test("Spawner: 200 concurrent children each get their own result", async () => {
  using spawner = new Spawner();
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      runProcess("/bin/sh", {
        args: ["-c", 'echo "out-$1"; echo "err-$1" >&2; exit $(($1 % 7))', "sh", String(i)],
        timeoutMs: 60_000,
        spawner,
      })),
  );
  results.forEach((result, i) => {
    assert.deepEqual(result, {
      kind: "exited",
      code: i % 7,
      signal: null,
      stdout: `out-${i}`,
      stderr: `err-${i}`,
    });
  });
  assert.equal(spawner.pending, 0);
});

Deno.test("Spawner.close() with children running settles every wait, kills their trees and ends the worker", async () => {
  await using dir = await tempDir();
  const env = marker();
  const spawner = new Spawner();
  // Each child waits on a grandchild: terminating the worker alone would leave those.
  const runs = [0, 1, 2].map((i) =>
    runProcess("/bin/sh", {
      args: ["-c", `sleep 30 & echo $! > "${dir.path}/${i}.pid"; wait`],
      env,
      timeoutMs: 60_000,
      spawner,
    })
  );
  await Promise.all([0, 1, 2].map((i) => readPid(`${dir.path}/${i}.pid`)));
  assert.equal(spawner.pending, 3);
  spawner.close();
  assert.equal(spawner.running, false);
  for (const result of await Promise.all(runs)) {
    assert.equal(result.kind, "aborted");
    const reason = result.kind === "aborted" ? result.reason : undefined;
    assert.match(reason instanceof Error ? reason.message : "", /spawner is closed/);
  }
  await waitNoneLeft(env);
  assert.deepEqual(await runProcess("/bin/true", { timeoutMs: 5000, spawner }), {
    kind: "spawn-error",
    code: 126,
    message: "/bin/true: cannot execute: the spawner is closed",
  });
  spawner.close(); // Idempotent.
});

Deno.test("Spawner.close() while spawns are in flight kills those children's trees too", async () => {
  const env = marker();
  const spawner = new Spawner();
  const runs = Array.from(
    { length: 20 },
    () =>
      runProcess("/bin/sh", { args: ["-c", "sleep 30 & wait"], env, timeoutMs: 60_000, spawner }),
  );
  spawner.close();
  for (const result of await Promise.all(runs)) {
    assert.deepEqual(result, {
      kind: "spawn-error",
      code: 126,
      message: "/bin/sh: cannot execute: the spawner is closed",
    });
  }
  await waitFor(() => !spawner.running, { what: "the worker to be terminated" });
  await waitNoneLeft(env);
});

/** A unique environment variable, to find a test's processes (and theirs) in /proc. */
function marker(): Record<string, string> {
  return { MANDRILL_TEST_MARK: crypto.randomUUID() };
}

/** Waits until no live process has the environment variable of `env`. */
async function waitNoneLeft(env: Record<string, string>): Promise<void> {
  const [entry] = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  await waitFor(async () => (await livePidsWithEnv(entry!)).length === 0, {
    what: "every process of the test to be killed",
  });
}

/** Live processes whose environment holds `entry` ("NAME=value"). */
async function livePidsWithEnv(entry: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid)) continue;
    const environ = await Deno.readTextFile(`/proc/${pid}/environ`).catch(() => "");
    if (environ.split("\0").includes(entry) && await isAlive(pid)) out.push(pid);
  }
  return out;
}

Deno.test("Spawner.close() lets the process exit (an idle worker would keep it alive)", async () => {
  await using dir = await tempDir();
  const main = `${dir.path}/main.ts`;
  await Deno.writeTextFile(
    main,
    [
      `import { runProcess } from ${
        JSON.stringify(new URL("../../src/executors/_run.ts", import.meta.url).href)
      };`,
      `import { Spawner } from ${
        JSON.stringify(new URL("../../src/executors/_spawner.ts", import.meta.url).href)
      };`,
      `const spawner = new Spawner();`,
      `const result = await runProcess("/bin/true", { timeoutMs: 5000, spawner });`,
      `if (result.kind !== "exited" || result.code !== 0) throw new Error(JSON.stringify(result));`,
      `spawner.close();`,
    ].join("\n"),
  );
  const { code, signal, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--no-check",
      "--quiet",
      `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
      main,
    ],
    stdin: "null",
    stdout: "null",
    signal: AbortSignal.timeout(20_000),
  }).output();
  assert.equal(signal, null, "the process did not exit by itself");
  assert.equal(code, 0, new TextDecoder().decode(stderr));
});

Deno.test("buildExecutors hands its spawner to command and ssh executors", async () => {
  const config = executorsSchema.parse({
    local: { type: "command", argv: ["/bin/true"] },
    remote: { type: "ssh", user: "root", connectTimeoutSec: 5 },
  });
  for (
    const [name, req] of [
      ["local", { id: "r-1", host: "web-1" }],
      // Nothing listens on the port: ssh fails at once, having run on the worker.
      ["remote", { id: "r-1", host: "web-1", address: "127.0.0.1", port: freePort() }],
    ] as const
  ) {
    using spawner = new Spawner();
    const executor = buildExecutors(config, { spawner }).get(name)!;
    const outcome = await executor.execute(req);
    assert.equal(outcome.kind, name === "local" ? "ok" : "connect", JSON.stringify(outcome));
    assert.equal(spawner.running, true, `${name} did not use the spawner`);
  }
});

Deno.test("Spawner: a worker that cannot start makes spawns unavailable, and runProcess spawns by itself", async () => {
  // A worker stuck loading: it never says ready. (One that throws would do
  // too, but Deno prints every uncaught worker error, even one handled here.)
  using spawner = new Spawner({ source: `/* never ready */`, readyTimeoutMs: 200 });
  const first = await spawner.spawn(spec("/bin/true"));
  assert.equal(first.kind, "unavailable");
  if (first.kind === "unavailable") {
    assert.equal(first.reason, "the spawner worker could not start: not ready within 200 ms");
  }
  assert.equal(spawner.running, false);
  // Every run still works, from the calling thread.
  const result = await runProcess("/bin/sh", {
    args: ["-c", "echo ok"],
    timeoutMs: 10_000,
    spawner,
  });
  assert.deepEqual(result, { kind: "exited", code: 0, signal: null, stdout: "ok", stderr: "" });
  assert.equal((await spawner.spawn(spec("/bin/true"))).kind, "unavailable");
});

/** The worker's program with Deno.Command only (as where posix_spawn cannot work). */
const COMMAND_ONLY_SOURCE =
  `(${spawnerWorker.toString()})(${spawnChild.toString()}, () => undefined);`;

for (const [how, source] of [["posix_spawn", undefined], ["Deno.Command", COMMAND_ONLY_SOURCE]]) {
  Deno.test(`Spawner (${how}): output written after the child's exit, while a grandchild holds the pipe, is read for drainGraceMs`, async () => {
    await using dir = await tempDir();
    using spawner = new Spawner(source ? { source } : {});
    const pidFile = `${dir.path}/grandchild.pid`;
    const t0 = performance.now();
    // The child exits at once; its grandchild writes 200 ms later and then
    // holds stdout open for 30 s.
    const result = await runProcess("/bin/sh", {
      args: [
        "-c",
        `echo early; (sleep 0.2; echo late; exec sleep 30) & echo $! > ${pidFile}; exit 3`,
      ],
      timeoutMs: 10_000,
      drainGraceMs: 1_000,
      spawner,
    });
    const ms = performance.now() - t0;
    const grandchild = await readPid(pidFile);
    killQuietly(grandchild);
    assert.deepEqual(result, {
      kind: "exited",
      code: 3,
      signal: null,
      stdout: "early\nlate",
      stderr: "",
    });
    assert.ok(
      ms < 10_000,
      `the result came after the drain grace, not the grandchild's end: ${ms} ms`,
    );
  });
}

Deno.test("Spawner with two threads: 100 concurrent children each get their own result, and close() ends both workers", async () => {
  assert.throws(() => new Spawner({ threads: 0 }), RangeError);
  using spawner = new Spawner({ threads: 2 });
  const results = await Promise.all(
    Array.from(
      { length: 100 },
      (_, i) =>
        runProcess("/bin/sh", {
          args: ["-c", `echo ${i}; exit $(( ${i} % 3 ))`],
          timeoutMs: 20_000,
          spawner,
        }),
    ),
  );
  results.forEach((r, i) => {
    assert.equal(r.kind, "exited");
    if (r.kind === "exited") assert.deepEqual([r.code, r.stdout], [i % 3, String(i)]);
  });
  assert.equal(spawner.pending, 0);
  assert.equal(spawner.running, true);
  spawner.close();
  await waitFor(() => !spawner.running, { what: "both workers to end" });
});

Deno.test("posix_spawn: the child leads a session of its own, with the signal mask and dispositions Deno.Command gives (SIGPIPE at its default)", async () => {
  const posix = ffiSpawner();
  assert.ok(posix, "on Linux with FFI allowed, children are started with posix_spawn");
  using _ = { [Symbol.dispose]: () => posix.close() };
  const output = collect();
  const started = posix.spawn(
    spec("/bin/sh", {
      args: ["-c", "cat /proc/self/stat; grep -E '^Sig(Blk|Ign):' /proc/self/status"],
    }),
    output.onOutput,
  );
  assert.ok("child" in started, JSON.stringify(started));
  const { child } = started;
  const [status] = await Promise.all([child.status, child.whenEnded]);
  const [stdout, stderr] = [output.text(1), output.text(2)];
  assert.deepEqual(status, { code: 0, signal: null }, stderr);
  // /proc/self/stat of cat: "pid (cat) state ppid pgrp session ..."; sh is the leader.
  const [, pgrp, session] = stdout.split(") ")[1]!.split(" ").slice(1, 4).map(Number);
  assert.equal(session, child.pid, "the child is the leader of a new session");
  assert.equal(pgrp, child.pid, "and of its process group");
  // The signal state Deno.Command gives its children (glibc's two internal
  // signals, 32 and 33, are ignored either way); SIGPIPE (13) at its default.
  const signals = (text: string) => text.split("\n").filter((l) => /^Sig(Blk|Ign):/.test(l));
  const probe = await new Deno.Command("/bin/sh", {
    args: ["-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status"],
  }).output();
  const expected = signals(new TextDecoder().decode(probe.stdout));
  assert.equal(expected.length, 2);
  assert.deepEqual(signals(stdout), expected);
  const ignored = BigInt(`0x${expected[1]!.split(/\s+/)[1]}`);
  assert.equal(ignored & (1n << 12n), 0n, "SIGPIPE is not ignored");
});

Deno.test("posix_spawn: a missing program is 127, a file that is not executable 126, and nothing is left open", () => {
  const posix = ffiSpawner()!;
  const spawn = (s: SpawnSpec) => posix.spawn(s, () => {});
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/plain`, "#!/bin/sh\n");
    const before = [...Deno.readDirSync("/proc/self/fd")].length;
    assert.deepEqual(spawn(spec(`${dir}/missing`)), { code: 127, message: "command not found" });
    assert.deepEqual(spawn(spec(`${dir}/plain`)), { code: 126, message: "permission denied" });
    assert.equal([...Deno.readDirSync("/proc/self/fd")].length, before, "no pipe leaked");
  } finally {
    posix.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("posix_spawn: arguments and environment arrive as given, empty and non-ASCII ones too; a NUL byte is refused", async () => {
  const posix = ffiSpawner()!;
  using _ = { [Symbol.dispose]: () => posix.close() };
  const env = { A: "", B: "é=1 ü", C: "three" };
  const args = ["-c", 'printf "<%s>" "$@"; printf "[%s]" "$A" "$B" "$C"', "sh", "x", "", "ünï"];
  // Twice: the second spawn reuses the packed environment of the first.
  for (let i = 0; i < 2; i++) {
    const output = collect();
    const started = posix.spawn(spec("/bin/sh", { args, env }), output.onOutput);
    assert.ok("child" in started, JSON.stringify(started));
    const [status] = await Promise.all([started.child.status, started.child.whenEnded]);
    assert.deepEqual(status, { code: 0, signal: null });
    assert.equal(started.child.ended, true);
    assert.equal(output.text(1), "<x><><ünï>[][é=1 ü][three]");
  }
  const before = [...Deno.readDirSync("/proc/self/fd")].length;
  const refused = { code: 126, message: "cannot execute: nul byte found in provided data" };
  assert.deepEqual(posix.spawn(spec("/bin/echo", { args: ["a\0b"] }), () => {}), refused);
  assert.deepEqual(posix.spawn(spec("/bin/true", { env: { X: "a\0b" } }), () => {}), refused);
  assert.equal([...Deno.readDirSync("/proc/self/fd")].length, before, "no pipe leaked");
});
