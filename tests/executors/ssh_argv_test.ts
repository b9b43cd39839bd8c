import assert from "node:assert/strict";
import {
  buildSshArgv,
  isValidAddress,
  quoteForShell,
  type SshExecutorOptions,
} from "../../src/executors/ssh.ts";

const req = { id: "r-1", host: "web-1" };
const base: SshExecutorOptions = { user: "root", command: ["systemctl", "reboot"] };

/** Runs `line` through a real POSIX shell that prints each word it sees. */
async function wordsSeenByShell(line: string): Promise<string[]> {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", `set -- ${line}; for a in "$@"; do printf '%s\\0' "$a"; done`],
  }).output();
  assert.equal(out.code, 0);
  return new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
}

Deno.test("buildSshArgv with defaults puts every option before -- and the target", () => {
  assert.deepEqual(buildSshArgv(req, base), [
    "ssh",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    "StrictHostKeyChecking=yes",
    "-p",
    "22",
    "-l",
    "root",
    "--",
    "web-1",
    "'systemctl' 'reboot'",
  ]);
});

Deno.test("buildSshArgv orders known hosts, identity, port, user, then extra options", () => {
  const argv = buildSshArgv({ ...req, address: "10.0.0.5" }, {
    ...base,
    sshBinary: "/usr/bin/ssh",
    port: 2222,
    identityFile: "/etc/mandrill/id_ed25519",
    knownHostsFile: "/etc/mandrill/known hosts",
    connectTimeoutSec: 2.5,
    serverAliveIntervalSec: 0,
    options: ["ProxyJump=bastion", "LogLevel=ERROR"],
  });
  assert.deepEqual(argv, [
    "/usr/bin/ssh",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=3",
    "-o",
    "ServerAliveInterval=0",
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile="/etc/mandrill/known hosts"`,
    "-i",
    "/etc/mandrill/id_ed25519",
    "-o",
    "IdentitiesOnly=yes",
    "-p",
    "2222",
    "-l",
    "root",
    "-o",
    "ProxyJump=bastion",
    "-o",
    "LogLevel=ERROR",
    "--",
    "10.0.0.5",
    "'systemctl' 'reboot'",
  ]);
});

Deno.test("buildSshArgv with strict host key checking off uses /dev/null as known hosts", () => {
  const argv = buildSshArgv(req, {
    ...base,
    strictHostKeyChecking: false,
    knownHostsFile: "/etc/mandrill/known_hosts",
  });
  assert.ok(argv.includes("StrictHostKeyChecking=no"));
  assert.ok(argv.includes("UserKnownHostsFile=/dev/null"));
  assert.ok(!argv.some((a) => a.includes("/etc/mandrill/known_hosts")));
});

Deno.test("buildSshArgv quotes each remote argument as one shell word", async (t) => {
  const cases: [string, string[], string][] = [
    ["single quote", ["echo", "it's"], `'echo' 'it'\\''s'`],
    ["command substitution", ["echo", "$(reboot)"], `'echo' '$(reboot)'`],
    ["separator", ["echo", "a; rm -rf /"], `'echo' 'a; rm -rf /'`],
    ["empty and spaces", ["printf", "", "  x  "], `'printf' '' '  x  '`],
    ["backticks, globs, newline", ["echo", "`id` * \n $HOME"], `'echo' '\`id\` * \n $HOME'`],
  ];
  for (const [name, command, expected] of cases) {
    await t.step(name, async () => {
      const argv = buildSshArgv(req, { ...base, command });
      assert.equal(argv.at(-1), expected);
      assert.equal(argv.at(-2), "web-1");
      assert.equal(argv.at(-3), "--");
      // A real shell splits the line back into exactly the original argv.
      assert.deepEqual(await wordsSeenByShell(expected), command);
    });
  }
});

Deno.test("quoteForShell escapes only single quotes", () => {
  assert.equal(quoteForShell("plain"), "'plain'");
  assert.equal(quoteForShell("''"), `''\\'''\\'''`);
  assert.equal(quoteForShell('"$x"'), `'"$x"'`);
});

Deno.test("buildSshArgv refuses targets that could be read as options or shell", async (t) => {
  const bad: [string, { host: string; address?: string }][] = [
    ["host with ;", { host: "web-1;touch /tmp/x" }],
    ["host starting with -", { host: "-oProxyCommand=sh" }],
    ["host with space", { host: "web 1" }],
    ["address starting with -", { host: "web-1", address: "-oProxyCommand=touch /tmp/x" }],
    ["address with $()", { host: "web-1", address: "$(reboot)" }],
    ["address with user@", { host: "web-1", address: "root@10.0.0.5" }],
    ["bracketed IPv6", { host: "web-1", address: "[::1]" }],
    ["bad IPv6", { host: "web-1", address: "1::2::3" }],
  ];
  for (const [name, target] of bad) {
    await t.step(name, () => {
      assert.throws(() => buildSshArgv({ id: "r-1", ...target }, base), TypeError);
    });
  }
});

Deno.test("isValidAddress accepts host names, IPv4 and IPv6 literals", () => {
  for (const ok of ["web-1", "web-1.example.com", "10.0.0.5", "::1", "fe80::1", "2001:db8::5"]) {
    assert.equal(isValidAddress(ok), true, ok);
  }
  for (const bad of ["", "-x", "a b", "10.0.0.5;id", ":::", "::1]", "web-1.", 5]) {
    assert.equal(isValidAddress(bad), false, String(bad));
  }
});

Deno.test("buildSshArgv refuses bad options", async (t) => {
  const bad: [string, Partial<SshExecutorOptions>, typeof TypeError | typeof RangeError][] = [
    ["user with space", { user: "root x" }, TypeError],
    ["user with newline", { user: "root\nx" }, TypeError],
    ["user starting with -", { user: "-oProxyCommand=x" }, TypeError],
    ["empty command", { command: [] }, TypeError],
    ["port 0", { port: 0 }, RangeError],
    ["port 70000", { port: 70000 }, RangeError],
    ["zero connect timeout", { connectTimeoutSec: 0 }, RangeError],
    ["negative server alive interval", { serverAliveIntervalSec: -1 }, RangeError],
    ["zero timeout", { timeoutSec: 0 }, RangeError],
    ["option without =", { options: ["ProxyJump bastion"] }, TypeError],
    ["option starting with -", { options: ["-v"] }, TypeError],
    ["option with newline", { options: ["LogLevel=ERROR\nProxyCommand=sh"] }, TypeError],
    ["known hosts with quote", { knownHostsFile: '/tmp/a"b' }, TypeError],
  ];
  for (const [name, options, error] of bad) {
    await t.step(name, () => {
      assert.throws(() => buildSshArgv(req, { ...base, ...options }), error);
    });
  }
});

Deno.test("buildSshArgv uses a host's own port over the executor's", () => {
  const argv = buildSshArgv({ ...req, port: 2022 }, { ...base, port: 22 });
  const i = argv.indexOf("-p");
  assert.equal(argv[i + 1], "2022");
  assert.equal(buildSshArgv(req, { ...base, port: 22 })[i + 1], "22");
});
