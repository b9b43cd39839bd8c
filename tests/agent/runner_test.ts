import assert from "node:assert/strict";
import { commandRunner } from "../../src/agent/runner.ts";

const CMD = { id: "r-1", action: "restart" as const, host: "web-1", issuedAt: 0, expiresAt: 1 };

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "mandrill-runner-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("commandRunner() runs argv as-is (no host appended, no shell) with the id and reason in env", async () => {
  await using dir = await tempDir();
  const out = `${dir.path}/args`;
  const run = commandRunner({
    argv: [
      "sh",
      "-c",
      `printf '%s|' "$#" "$MANDRILL_REQUEST_ID" "$MANDRILL_REASON" > '${out}'; echo restarting`,
      "sh",
      "$(reboot)",
    ],
    timeoutSec: 10,
  });
  const result = await run({ ...CMD, reason: "it's stuck; really" });
  assert.deepEqual(result, { ok: true, detail: "restarting" });
  // One argument ("$(reboot)", passed literally): nothing was appended.
  // The free-text reason of a message never reaches the child.
  assert.equal(await Deno.readTextFile(out), "1|r-1||");
});

Deno.test("commandRunner() reports a failing command with its stderr", async () => {
  const run = commandRunner({
    argv: ["sh", "-c", "echo no permission >&2; exit 3"],
    timeoutSec: 10,
  });
  assert.deepEqual(await run(CMD), {
    ok: false,
    detail: "sh exited with 3: no permission",
  });
});

Deno.test("commandRunner() reports a missing program", async () => {
  const run = commandRunner({ argv: ["/nonexistent/reboot"], timeoutSec: 10 });
  assert.deepEqual(await run(CMD), {
    ok: false,
    detail: "/nonexistent/reboot: command not found",
  });
});

Deno.test("commandRunner() kills a command that outlives timeoutSec", async () => {
  const run = commandRunner({ argv: ["sleep", "30"], timeoutSec: 0.2 });
  const started = performance.now();
  const result = await run(CMD);
  assert.equal(result.ok, false);
  assert.match(result.detail ?? "", /sleep did not finish within 0.2 s \(killed with SIGTERM\)/);
  assert.ok(performance.now() - started < 5_000);
});

Deno.test("commandRunner() stops the command when aborted", async () => {
  const run = commandRunner({ argv: ["sleep", "30"], timeoutSec: 60 });
  const ac = new AbortController();
  const p = run(CMD, ac.signal);
  ac.abort(new Error("agent shutting down"));
  assert.deepEqual(await p, { ok: false, detail: "sleep aborted: agent shutting down" });
});

Deno.test("commandRunner() rejects bad options", () => {
  assert.throws(() => commandRunner({ argv: [], timeoutSec: 1 }), TypeError);
  assert.throws(() => commandRunner({ argv: ["x"], timeoutSec: 0 }), RangeError);
});
