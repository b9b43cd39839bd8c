/**
 * The ssh executor against a real OpenSSH sshd on 127.0.0.1 (see tests/_helpers/sshd.ts).
 * Fails, never skips, when sshd is not installed.
 */
import assert from "node:assert/strict";
import {
  DISCONNECT_DETAIL,
  probeBootId,
  SshExecutor,
  type SshExecutorOptions,
} from "../../src/executors/ssh.ts";
import { freePort, startSshd } from "../_helpers/sshd.ts";
import { exists, isAlive, killQuietly, readPid, waitFor } from "../executors/_helpers.ts";

Deno.test("SshExecutor against a real sshd", async (t) => {
  await using sshd = await startSshd();
  const req = { id: "r-1", host: "web-1", address: "127.0.0.1" };
  const base: SshExecutorOptions = {
    user: sshd.user,
    port: sshd.port,
    identityFile: sshd.identityFile,
    knownHostsFile: sshd.knownHostsFile,
    command: ["true"],
    timeoutSec: 20,
  };
  const marker = `${sshd.dir}/MARKER`;
  const withLog = (what: string) => `${what}\n--- sshd log ---\n${sshd.log()}`;

  await t.step("a restart runs the configured remote command", async () => {
    const ssh = new SshExecutor({ ...base, command: ["sh", "-c", `echo restarted > ${marker}`] });
    const outcome = await ssh.execute(req);
    assert.deepEqual(outcome, { kind: "ok" }, withLog(JSON.stringify(outcome)));
    assert.equal(await Deno.readTextFile(marker), "restarted\n");
    await Deno.remove(marker);
  });

  await t.step("remote argv elements with spaces, quotes and $() arrive intact", async () => {
    const tricky = "it's a $(test)";
    const command = ["sh", "-c", `printf '%s' "$1" > ${marker}`, "sh", tricky];
    const outcome = await new SshExecutor({ ...base, command }).execute(req);
    assert.equal(outcome.kind, "ok", withLog(JSON.stringify(outcome)));
    assert.equal(await Deno.readTextFile(marker), tricky);
    await Deno.remove(marker);
  });

  await t.step("a failing remote command is exit with its code and stderr", async () => {
    const command = ["sh", "-c", "echo 'unit not found' >&2; exit 5"];
    const outcome = await new SshExecutor({ ...base, command }).execute(req);
    assert.equal(outcome.kind, "exit");
    if (outcome.kind !== "exit") return;
    assert.equal(outcome.code, 5);
    assert.match(outcome.detail, /unit not found/);
  });

  await t.step("a dropped connection is ok only when expected", async () => {
    // Kills the sshd process serving this very connection, as a reboot would.
    const command = ["sh", "-c", "kill -9 $PPID"];
    const expected = await new SshExecutor({ ...base, command, expectDisconnect: true })
      .execute(req);
    assert.deepEqual(expected, { kind: "ok", detail: DISCONNECT_DETAIL });
    const unexpected = await new SshExecutor({ ...base, command }).execute(req);
    assert.equal(unexpected.kind === "exit" && unexpected.code, 255);
  });

  await t.step("a key the server does not know is auth", async () => {
    const identityFile = await sshd.newKey("stranger");
    const ssh = new SshExecutor({ ...base, identityFile, expectDisconnect: true });
    const outcome = await ssh.execute(req);
    assert.equal(outcome.kind, "auth", JSON.stringify(outcome));
    assert.match(outcome.kind === "auth" ? outcome.detail : "", /Permission denied/);
  });

  await t.step("an unknown host key is connect, naming the host key", async () => {
    const knownHostsFile = `${sshd.dir}/empty_known_hosts`;
    await Deno.writeTextFile(knownHostsFile, "");
    const outcome = await new SshExecutor({ ...base, knownHostsFile, expectDisconnect: true })
      .execute(req);
    assert.equal(outcome.kind, "connect", JSON.stringify(outcome));
    assert.match(outcome.kind === "connect" ? outcome.detail : "", /host key/);

    const lax = new SshExecutor({ ...base, knownHostsFile, strictHostKeyChecking: false });
    assert.equal((await lax.execute(req)).kind, "ok");
    assert.equal(await Deno.readTextFile(knownHostsFile), "", "nothing learned with strict off");
  });

  await t.step("a closed port is connect", async () => {
    const ssh = new SshExecutor({ ...base, port: freePort(), expectDisconnect: true });
    const outcome = await ssh.execute(req);
    assert.equal(outcome.kind, "connect", JSON.stringify(outcome));
    assert.match(outcome.kind === "connect" ? outcome.detail : "", /Connection refused/);
  });

  await t.step("a remote command that hangs is timeout, ssh killed", async () => {
    const pidFile = `${sshd.dir}/sleep.pid`;
    const command = ["sh", "-c", `echo $$ > ${pidFile}; exec sleep 30`];
    const started = performance.now();
    const outcome = await new SshExecutor({ ...base, command, timeoutSec: 2 }).execute(req);
    const elapsed = performance.now() - started;
    assert.equal(outcome.kind, "timeout", JSON.stringify(outcome));
    assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
    // The remote command did start; the remote side outlives ssh, so clean it up.
    killQuietly(await readPid(pidFile));
  });

  await t.step("an abort kills ssh", async () => {
    const pidFile = `${sshd.dir}/abort.pid`;
    const command = ["sh", "-c", `echo $$ > ${pidFile}; exec sleep 30`];
    const controller = new AbortController();
    const running = new SshExecutor({ ...base, command }).execute(req, controller.signal);
    const remotePid = await readPid(pidFile);
    controller.abort(new Error("shutting down"));
    const outcome = await running;
    assert.equal(outcome.kind, "aborted");
    killQuietly(remotePid);
    await waitFor(async () => !(await isAlive(remotePid)), { what: "remote sleep to end" });
  });

  await t.step("a host name with shell metacharacters is rejected, nothing runs", async () => {
    const x = `${sshd.dir}/x`;
    const ssh = new SshExecutor({ ...base, command: ["sh", "-c", `touch ${marker}`] });
    for (const host of [`web-1;touch ${x}`, "$(touch x)", "-oProxyCommand=touch"]) {
      const outcome = await ssh.execute({ id: "r-1", host });
      assert.equal(outcome.kind, "rejected", host);
    }
    const badAddress = await ssh.execute({ ...req, address: `-oProxyCommand=touch ${x}` });
    assert.equal(badAddress.kind, "rejected");
    assert.equal(await exists(marker), false);
    assert.equal(await exists(x), false);
  });

  await t.step("probeBootId returns the real boot id", async () => {
    const local = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
    // The configured command is ignored by the probe.
    const uptimeBefore = Number((await Deno.readTextFile("/proc/uptime")).split(" ")[0]);
    const result = await probeBootId(req, { ...base, command: ["false"] });
    const uptimeAfter = Number((await Deno.readTextFile("/proc/uptime")).split(" ")[0]);
    assert.equal(result.kind === "ok" && result.bootId, local);
    const uptime = result.kind === "ok" ? result.uptimeSec : undefined;
    assert.ok(
      uptime !== undefined && uptime >= uptimeBefore && uptime <= uptimeAfter,
      `uptime ${uptime} read over ssh, between ${uptimeBefore} and ${uptimeAfter}`,
    );
    const viaExecutor = await new SshExecutor(base).probeBootId(req);
    assert.equal(viaExecutor.kind === "ok" && viaExecutor.bootId, local);
  });
});

Deno.test("startSshd fails loudly, not skips, when sshd is missing", async () => {
  await assert.rejects(
    startSshd({ sshdPath: "/nonexistent/sshd" }),
    /Cannot start the test sshd: \/nonexistent\/sshd not found/,
  );
});
