import assert from "node:assert/strict";
import { CommandExecutor, type CommandExecutorOptions } from "../../src/executors/command.ts";
import {
  exists,
  isAlive,
  readPid,
  SPAWN_MODES,
  tempDir,
  waitFor,
  writeScript,
} from "./_helpers.ts";

const req = { id: "r-1", host: "web-1" };

/** Runs `fn` while sampling the process RSS; returns the peak growth in MiB. */
async function peakRssGrowthMiB(fn: () => Promise<void>): Promise<number> {
  const before = Deno.memoryUsage().rss;
  let peak = before;
  const sample = () => peak = Math.max(peak, Deno.memoryUsage().rss);
  const timer = setInterval(sample, 10);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  sample();
  return (peak - before) / 2 ** 20;
}

// 512 MB of output: an unbounded capture would grow the process by at least that much.
const HUGE = 512_000_000;

/** Makes a CommandExecutor that starts children the way of the test's spawn mode. */
type Make = (options: Omit<CommandExecutorOptions, "spawner">) => CommandExecutor;

// Every behaviour holds whether children are spawned directly or on a Spawner's worker.
for (const mode of SPAWN_MODES) {
  /** `Deno.test` in `mode`: `make` builds executors on the mode's spawner, closed afterwards. */
  const test = (name: string, fn: (make: Make, t: Deno.TestContext) => Promise<void>) =>
    Deno.test(`${name} [${mode.name}]`, async (t) => {
      using spawner = mode.open();
      await fn((options) => new CommandExecutor({ ...options, spawner }), t);
    });

  test("CommandExecutor: exit 0 is ok and exit 1 is exit with its code", async (make) => {
    const ok = await make({ argv: ["/bin/true"], timeoutSec: 5 }).execute(req);
    assert.deepEqual(ok, { kind: "ok" });
    const failed = await make({ argv: ["/bin/false"], timeoutSec: 5 }).execute(req);
    assert.equal(failed.kind, "exit");
    assert.equal(failed.kind === "exit" && failed.code, 1);
    assert.match(failed.kind === "exit" ? failed.detail : "", /false for web-1 exited with 1/);
  });

  test("CommandExecutor passes argv and the host as last argument, with no shell", async (make) => {
    await using dir = await tempDir();
    const script = await writeScript(
      dir.path,
      "show.sh",
      `for a in "$@"; do printf '[%s]\\n' "$a"; done; printf 'id=%s\\n' "$MANDRILL_REQUEST_ID"`,
    );
    const executor = make({ argv: [script, "a b", "$(echo hi); *"], timeoutSec: 5 });
    const outcome = await executor.execute({ id: "r-42:x", host: "db-7.example.com" });
    assert.deepEqual(outcome, {
      kind: "ok",
      detail: "[a b]\n[$(echo hi); *]\n[db-7.example.com]\nid=r-42:x",
    });
  });

  test("CommandExecutor reports the stderr tail of a failing command", async (make) => {
    await using dir = await tempDir();
    const script = await writeScript(
      dir.path,
      "fail.sh",
      "echo out; echo 'disk on fire' >&2; exit 3",
    );
    const outcome = await make({ argv: [script], timeoutSec: 5 }).execute(req);
    assert.equal(outcome.kind, "exit");
    if (outcome.kind !== "exit") return;
    assert.equal(outcome.code, 3);
    assert.match(outcome.detail, /exited with 3: disk on fire$/);
  });

  test("CommandExecutor turns a missing program into exit 127", async (make) => {
    const executor = make({ argv: ["/nonexistent/restart-host"], timeoutSec: 5 });
    const outcome = await executor.execute(req);
    assert.equal(outcome.kind, "exit");
    if (outcome.kind !== "exit") return;
    assert.equal(outcome.code, 127);
    assert.match(outcome.detail, /\/nonexistent\/restart-host: command not found/);
  });

  test("CommandExecutor turns a program that is not executable into exit 126", async (make) => {
    await using dir = await tempDir();
    const path = `${dir.path}/restart-host`;
    await Deno.writeTextFile(path, "#!/bin/sh\nexit 0\n");
    const outcome = await make({ argv: [path], timeoutSec: 5 }).execute(req);
    assert.equal(outcome.kind, "exit");
    if (outcome.kind !== "exit") return;
    assert.equal(outcome.code, 126);
    assert.match(outcome.detail, /restart-host: permission denied/);
  });

  test("CommandExecutor notices a program made non-executable or removed right after a run", async (make) => {
    await using dir = await tempDir();
    const script = await writeScript(dir.path, "restart-host", "exit 0");
    const executor = make({ argv: [script], timeoutSec: 5 });
    assert.deepEqual(await executor.execute(req), { kind: "ok" });
    await Deno.chmod(script, 0o644);
    const denied = await executor.execute(req);
    assert.equal(denied.kind === "exit" && denied.code, 126, JSON.stringify(denied));
    await Deno.remove(script);
    const missing = await executor.execute(req);
    assert.equal(missing.kind === "exit" && missing.code, 127, JSON.stringify(missing));
  });

  test(
    "CommandExecutor rejects hosts and ids that are not valid, without spawning",
    async (make, t) => {
      await using dir = await tempDir();
      const marker = `${dir.path}/ran`;
      const script = await writeScript(dir.path, "mark.sh", `echo "$@" > "${marker}"`);
      const executor = make({ argv: [script], timeoutSec: 5 });
      const badHosts = [
        `web-1;touch ${marker}`,
        "$(reboot)",
        "web-1 web-2",
        "-rf",
        "web_1",
        "",
        "a".repeat(64),
        "web-1\n",
      ];
      for (const host of badHosts) {
        await t.step(`host ${JSON.stringify(host)}`, async () => {
          const outcome = await executor.execute({ id: "r-1", host });
          assert.equal(outcome.kind, "rejected");
          assert.equal(await exists(marker), false);
        });
      }
      await t.step("invalid request id", async () => {
        const outcome = await executor.execute({ id: "r 1; reboot", host: "web-1" });
        assert.equal(outcome.kind, "rejected");
        assert.equal(await exists(marker), false);
      });
      await t.step("the same script does run for a valid host", async () => {
        assert.equal((await executor.execute(req)).kind, "ok");
        assert.equal(await Deno.readTextFile(marker), "web-1\n");
      });
    },
  );

  test("CommandExecutor kills the whole process tree on timeout", async (make) => {
    await using dir = await tempDir();
    const script = await writeScript(
      dir.path,
      "hang.sh",
      `sleep 30 & echo $! > "${dir.path}/child.pid"; echo $$ > "${dir.path}/self.pid"; wait`,
    );
    const executor = make({ argv: [script], timeoutSec: 0.5 });
    const started = performance.now();
    const outcome = await executor.execute(req);
    const elapsed = performance.now() - started;
    assert.equal(outcome.kind, "timeout");
    assert.match(outcome.kind === "timeout" ? outcome.detail : "", /within 0.5 s/);
    assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
    for (const name of ["self.pid", "child.pid"]) {
      const pid = await readPid(`${dir.path}/${name}`);
      await waitFor(async () => !(await isAlive(pid)), { what: `${name} ${pid} to die` });
    }
  });

  test("CommandExecutor escalates to SIGKILL when SIGTERM is ignored", async (make) => {
    await using dir = await tempDir();
    const script = await writeScript(
      dir.path,
      "stubborn.sh",
      `trap '' TERM; echo $$ > "${dir.path}/self.pid"; sleep 30`,
    );
    const outcome = await make({ argv: [script], timeoutSec: 0.5 }).execute(req);
    assert.equal(outcome.kind, "timeout");
    assert.match(outcome.kind === "timeout" ? outcome.detail : "", /killed with SIGKILL/);
    const pid = await readPid(`${dir.path}/self.pid`);
    assert.equal(await isAlive(pid), false);
  });

  test("CommandExecutor kills the command when the signal aborts", async (make, t) => {
    await using dir = await tempDir();
    const pidFile = `${dir.path}/self.pid`;
    const script = await writeScript(dir.path, "slow.sh", `echo $$ > "${pidFile}"; sleep 30`);
    const executor = make({ argv: [script], timeoutSec: 60 });

    await t.step("abort while running", async () => {
      const controller = new AbortController();
      const running = executor.execute(req, controller.signal);
      const pid = await readPid(pidFile);
      controller.abort(new Error("shutting down"));
      const outcome = await running;
      assert.deepEqual(outcome, {
        kind: "aborted",
        detail: "slow.sh for web-1 aborted: shutting down",
      });
      await waitFor(async () => !(await isAlive(pid)), { what: `pid ${pid} to die` });
    });

    await t.step("already aborted: never spawned", async () => {
      await Deno.remove(pidFile);
      const outcome = await executor.execute(req, AbortSignal.abort());
      assert.equal(outcome.kind, "aborted");
      assert.equal(await exists(pidFile), false);
    });
  });

  test("CommandExecutor keeps only a bounded tail of huge output", async (make, t) => {
    await t.step("512 MB on stdout, exit 0", async () => {
      const executor = make({
        argv: ["/bin/sh", "-c", `head -c ${HUGE} /dev/zero | tr '\\0' x; echo; echo END`, "sh"],
        timeoutSec: 60,
      });
      let outcome;
      const grown = await peakRssGrowthMiB(async () => {
        outcome = await executor.execute(req);
      });
      assert.ok(grown < 256, `rss grew by ${grown.toFixed(1)} MiB`);
      assert.equal(outcome!.kind, "ok");
      const detail = outcome!.kind === "ok" ? outcome!.detail ?? "" : "";
      assert.ok(detail.startsWith("…x"), detail.slice(0, 20));
      assert.ok(detail.endsWith("xxx\nEND"), detail.slice(-20));
      assert.ok(detail.length <= 2049, `detail is ${detail.length} characters`);
    });
    await t.step("512 MB on stderr, exit 4", async () => {
      const executor = make({
        argv: ["/bin/sh", "-c", `head -c ${HUGE} /dev/zero | tr '\\0' e >&2; exit 4`, "sh"],
        timeoutSec: 60,
      });
      let outcome;
      const grown = await peakRssGrowthMiB(async () => {
        outcome = await executor.execute(req);
      });
      assert.ok(grown < 256, `rss grew by ${grown.toFixed(1)} MiB`);
      assert.equal(outcome!.kind, "exit");
      if (outcome!.kind !== "exit") return;
      assert.equal(outcome!.code, 4);
      assert.match(outcome!.detail, /exited with 4: …e+$/);
      assert.ok(outcome!.detail.length < 2200, `detail is ${outcome!.detail.length} characters`);
    });
  });

  test("CommandExecutor children never see mandrill's secrets, only a small known environment", async (make) => {
    Deno.env.set("MQTT_PASSWORD", "hunter2-secret");
    try {
      const executor = make({
        argv: ["sh", "-c", 'echo "[$MQTT_PASSWORD][$MANDRILL_REQUEST_ID][${PATH:+path}]"', "sh"],
        timeoutSec: 10,
      });
      const outcome = await executor.execute({ id: "r-9", host: "web-1" });
      assert.equal(outcome.kind, "ok");
      assert.equal(outcome.kind === "ok" ? outcome.detail?.trim() : "", "[][r-9][path]");
    } finally {
      Deno.env.delete("MQTT_PASSWORD");
    }
  });
}

Deno.test("CommandExecutor refuses bad options", () => {
  assert.throws(() => new CommandExecutor({ argv: [], timeoutSec: 5 }), TypeError);
  assert.throws(() => new CommandExecutor({ argv: [""], timeoutSec: 5 }), TypeError);
  assert.throws(() => new CommandExecutor({ argv: ["/bin/true"], timeoutSec: 0 }), RangeError);
  assert.throws(() => new CommandExecutor({ argv: ["/bin/true"], timeoutSec: NaN }), RangeError);
});
