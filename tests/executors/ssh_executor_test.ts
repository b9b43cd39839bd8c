import assert from "node:assert/strict";
import {
  classifySshExit,
  DISCONNECT_DETAIL,
  probeBootId,
  SshExecutor,
  type SshExecutorOptions,
} from "../../src/executors/ssh.ts";
import { exists, SPAWN_MODES, tempDir, writeScript } from "./_helpers.ts";

Deno.test("classifySshExit maps ssh exits to outcomes", async (t) => {
  const cases: [string, number, string, boolean, string][] = [
    ["exit 0", 0, "", false, "ok"],
    ["auth", 255, "root@10.0.0.5: Permission denied (publickey).", false, "auth"],
    ["too many keys", 255, "Received disconnect: Too many authentication failures", true, "auth"],
    ["refused", 255, "ssh: connect to host x port 22: Connection refused", true, "connect"],
    [
      "connect timeout",
      255,
      "ssh: connect to host x port 22: Connection timed out",
      true,
      "connect",
    ],
    [
      "dns",
      255,
      "ssh: Could not resolve hostname nope: Name or service not known",
      true,
      "connect",
    ],
    ["no route", 255, "ssh: connect to host x port 22: No route to host", true, "connect"],
    [
      "host key",
      255,
      "No ED25519 host key is known for x.\nHost key verification failed.",
      true,
      "connect",
    ],
    ["dropped, expected", 255, "Connection to x closed by remote host.", true, "ok"],
    ["reset, expected", 255, "client_loop: send disconnect: Connection reset by peer", true, "ok"],
    ["server gone, expected", 255, "Timeout, server x not responding.", true, "ok"],
    ["dropped, unexpected", 255, "Connection to x closed by remote host.", false, "exit"],
    ["remote command failed", 1, "Failed to reboot: Access denied", true, "exit"],
  ];
  for (const [name, code, stderr, expectDisconnect, kind] of cases) {
    await t.step(name, () => {
      const outcome = classifySshExit({ code, stderr, target: "root@x" }, expectDisconnect);
      assert.equal(outcome.kind, kind);
    });
  }
  await t.step("details name the target and keep stderr", () => {
    const auth = classifySshExit({ code: 255, stderr: "Permission denied", target: "root@x" });
    assert.deepEqual(auth, {
      kind: "auth",
      detail: "ssh authentication to root@x failed: Permission denied",
    });
    const hostKey = classifySshExit({ code: 255, stderr: "Host key verification failed." });
    assert.match(hostKey.kind === "connect" ? hostKey.detail : "", /host key verification/);
    assert.deepEqual(classifySshExit({ code: 255, stderr: "closed" }, true), {
      kind: "ok",
      detail: DISCONNECT_DETAIL,
    });
    assert.deepEqual(classifySshExit({ code: 3, stderr: "", target: "root@x" }), {
      kind: "exit",
      code: 3,
      detail: "ssh to root@x exited with 3",
    });
  });
});

/** A stand-in `ssh` that records its argv (one per line) and answers as told by env. */
async function fakeSsh(dir: string): Promise<{ options: SshExecutorOptions; argsFile: string }> {
  const argsFile = `${dir}/args`;
  const script = await writeScript(
    dir,
    "ssh",
    [
      `printf '%s\\n' "$@" > "${argsFile}"`,
      `[ -f "${dir}/stdout" ] && cat "${dir}/stdout"`,
      `[ -f "${dir}/stderr" ] && cat "${dir}/stderr" >&2`,
      `[ -f "${dir}/hang" ] && exec sleep 30`,
      `exit "$(cat "${dir}/code" 2>/dev/null || echo 0)"`,
    ].join("\n"),
  );
  return {
    argsFile,
    options: { user: "root", command: ["systemctl", "reboot"], sshBinary: script },
  };
}

Deno.test("SshExecutor never spawns ssh for an invalid host or address", async (t) => {
  await using dir = await tempDir();
  const { options, argsFile } = await fakeSsh(dir.path);
  const ssh = new SshExecutor(options);
  const targets = [
    { host: "web-1;touch /tmp/x" },
    { host: "$(reboot)" },
    { host: "web-1", address: "-oProxyCommand=touch /tmp/x" },
    { host: "web-1", address: "10.0.0.5 -v" },
  ];
  for (const target of targets) {
    await t.step(JSON.stringify(target), async () => {
      const outcome = await ssh.execute({ id: "r-1", ...target });
      assert.equal(outcome.kind, "rejected");
      assert.equal(await exists(argsFile), false);
    });
  }
  await t.step("probeBootId too", async () => {
    const outcome = await probeBootId({ id: "r-1", host: "-x" }, options);
    assert.equal(outcome.kind, "rejected");
    assert.equal(await exists(argsFile), false);
  });
});

for (const mode of SPAWN_MODES) {
  Deno.test(`SshExecutor hands ssh the built argv and classifies its exit [${mode.name}]`, async (t) => {
    await using dir = await tempDir();
    using spawner = mode.open();
    const fake = await fakeSsh(dir.path);
    const { argsFile } = fake;
    const options = { ...fake.options, spawner };
    const req = { id: "r-1", host: "web-1", address: "10.0.0.5" };

    await t.step("exit 0 is ok with stdout", async () => {
      await Deno.writeTextFile(`${dir.path}/stdout`, "bye\n");
      const outcome = await new SshExecutor(options).execute(req);
      assert.deepEqual(outcome, { kind: "ok", detail: "bye" });
      const args = (await Deno.readTextFile(argsFile)).split("\n");
      assert.deepEqual(args.slice(-4), ["--", "10.0.0.5", "'systemctl' 'reboot'", ""]);
      await Deno.remove(`${dir.path}/stdout`);
    });

    await t.step("255 after the drop is ok only with expectDisconnect", async () => {
      await Deno.writeTextFile(`${dir.path}/code`, "255");
      await Deno.writeTextFile(
        `${dir.path}/stderr`,
        "Connection to 10.0.0.5 closed by remote host.",
      );
      const expected = await new SshExecutor({ ...options, expectDisconnect: true }).execute(req);
      assert.deepEqual(expected, { kind: "ok", detail: DISCONNECT_DETAIL });
      const unexpected = await new SshExecutor(options).execute(req);
      assert.equal(unexpected.kind, "exit");
    });

    await t.step("a hung ssh is killed at timeoutSec", async () => {
      await Deno.writeTextFile(`${dir.path}/hang`, "");
      const outcome = await new SshExecutor({ ...options, timeoutSec: 0.3 }).execute(req);
      assert.equal(outcome.kind, "timeout");
      assert.match(outcome.kind === "timeout" ? outcome.detail : "", /root@10.0.0.5.*within 0.3 s/);
    });

    await t.step("an abort kills ssh", async () => {
      const controller = new AbortController();
      const running = new SshExecutor(options).execute(req, controller.signal);
      controller.abort(new Error("stop"));
      assert.deepEqual(await running, {
        kind: "aborted",
        detail: "ssh to root@10.0.0.5 aborted: stop",
      });
    });

    await t.step("a missing ssh binary is exit 127", async () => {
      const outcome = await new SshExecutor({ ...options, sshBinary: `${dir.path}/nope` }).execute(
        req,
      );
      assert.equal(outcome.kind === "exit" && outcome.code, 127);
    });
  });
}

Deno.test("probeBootId runs the fixed command and checks the answer", async (t) => {
  await using dir = await tempDir();
  const { options, argsFile } = await fakeSsh(dir.path);
  const req = { id: "r-1", host: "web-1" };
  const bootId = "0b7f2e5c-1d2a-4c3b-9e8f-123456789abc";
  await t.step("a boot id and the uptime", async () => {
    await Deno.writeTextFile(`${dir.path}/stdout`, `${bootId}\n12.34 20.00\n`);
    assert.deepEqual(await probeBootId(req, options), { kind: "ok", bootId, uptimeSec: 12.34 });
    const args = (await Deno.readTextFile(argsFile)).trim().split("\n");
    assert.equal(args.at(-1), "'cat' '/proc/sys/kernel/random/boot_id' '/proc/uptime'");
  });
  await t.step("a boot id without a readable uptime", async () => {
    await Deno.writeTextFile(`${dir.path}/stdout`, `${bootId}\n`);
    assert.deepEqual(await probeBootId(req, options), { kind: "ok", bootId });
    await Deno.writeTextFile(`${dir.path}/stdout`, `${bootId}\nsoon\n`);
    assert.deepEqual(await probeBootId(req, options), { kind: "ok", bootId });
  });
  await t.step("garbage is a failure", async () => {
    await Deno.writeTextFile(`${dir.path}/stdout`, "not a boot id\n");
    const outcome = await probeBootId(req, { ...options, expectDisconnect: true });
    assert.equal(outcome.kind, "exit");
  });
  await t.step("a connection failure passes through", async () => {
    await Deno.remove(`${dir.path}/stdout`);
    await Deno.writeTextFile(`${dir.path}/code`, "255");
    await Deno.writeTextFile(
      `${dir.path}/stderr`,
      "ssh: connect to host web-1: Connection refused",
    );
    const outcome = await probeBootId(req, { ...options, expectDisconnect: true });
    assert.equal(outcome.kind, "connect");
  });
});

Deno.test("SshExecutor refuses bad options at construction", () => {
  assert.throws(() => new SshExecutor({ user: "", command: ["true"] }), TypeError);
  assert.throws(() => new SshExecutor({ user: "root", command: [] }), TypeError);
  assert.throws(() => new SshExecutor({ user: "root", command: ["x"], port: 0 }), RangeError);
});
