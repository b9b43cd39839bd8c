import assert from "node:assert/strict";
import { ConfigError, loadAgentConfig, loadConfig } from "../../src/config/mod.ts";
import { readJsonFile } from "../../src/config/load.ts";
import { configErrorOfAsync } from "./_assert.ts";

const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

async function withTempFile(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("loadConfig() reads and validates the DESIGN.md example", async () => {
  const config = await loadConfig(fixture("design_example.json"));
  assert.equal(config.mqtt.clientId, "mandrill-1");
  assert.deepEqual(Object.keys(config.executors), ["ssh", "agent", "local"]);
});

Deno.test("loadConfig() reports five mistakes as five issues, each with its path", async () => {
  const file = fixture("five_mistakes.json");
  const error = await configErrorOfAsync(loadConfig(file));
  assert.equal(error.file, file);
  assert.deepEqual(error.issues, [
    { path: "mqtt.keepAliveSec", message: 'unknown key; did you mean "keepaliveSec"?' },
    {
      path: "hosts.web_2",
      message: "invalid key: must be an RFC 1123 host name of at most 253 characters",
    },
    { path: "policy.maxUnavailable", message: "expected a positive integer, got -1" },
    { path: "log.format", message: 'expected one of "json", "pretty", got "xml"' },
    {
      path: 'hosts["web-1.example.com"].executor',
      message: 'unknown executor "sshh"; did you mean "ssh"?',
    },
  ]);
  const lines = error.message.split("\n");
  assert.equal(lines.length, 5);
  for (const line of lines) assert.ok(line.startsWith(`${file}: `), line);
});

Deno.test("loadConfig() reads ${NAME} from the process environment by default", async () => {
  const name = "MANDRILL_CONFIG_TEST_PASSWORD";
  Deno.env.set(name, "from-env");
  try {
    await withTempFile(JSON.stringify({ mqtt: { password: `\${${name}}` } }), async (path) => {
      assert.equal((await loadConfig(path)).mqtt.password, "from-env");
    });
  } finally {
    Deno.env.delete(name);
  }
});

Deno.test("loadConfig() uses options.env instead of the process environment when given", async () => {
  await withTempFile(JSON.stringify({ mqtt: { password: "${PATH}" } }), async (path) => {
    const config = await loadConfig(path, { env: { PATH: "given" } });
    assert.equal(config.mqtt.password, "given");
    const error = await configErrorOfAsync(loadConfig(path, { env: {} }));
    assert.equal(error.message, `${path}: mqtt.password: environment variable PATH is not set`);
  });
});

Deno.test("loadConfig() names the file, line and column of a JSON syntax error", async () => {
  await withTempFile('{\n  "policy": {\n    "maxUnavailable" 4\n  }\n}\n', async (path) => {
    const error = await configErrorOfAsync(loadConfig(path));
    assert.equal(
      error.message,
      `${path}: invalid JSON at line 3, column 22: Expected ':' after property name`,
    );
    assert.ok(error.cause instanceof SyntaxError);
  });
});

Deno.test("loadConfig() reports an empty file as invalid JSON", async () => {
  await withTempFile("\n", async (path) => {
    const error = await configErrorOfAsync(loadConfig(path));
    assert.equal(
      error.message,
      `${path}: invalid JSON at line 2, column 1: unexpected end of input`,
    );
  });
});

Deno.test("loadConfig() accepts a byte order mark", async () => {
  await withTempFile('\uFEFF{"log": {"format": "pretty"}}', async (path) => {
    assert.equal((await loadConfig(path)).log.format, "pretty");
  });
});

Deno.test("loadConfig() turns a missing file into a ConfigError", async () => {
  const path = fixture("does_not_exist.json");
  const error = await configErrorOfAsync(loadConfig(path));
  assert.equal(error.message, `${path}: file not found`);
  assert.ok(error.cause instanceof Deno.errors.NotFound);
});

Deno.test("loadConfig() rejects with the signal's reason when aborted", async () => {
  const reason = new Error("stop");
  await assert.rejects(
    loadConfig(fixture("design_example.json"), { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
});

Deno.test("loadAgentConfig() reads an agent config", async () => {
  const config = await loadAgentConfig(fixture("agent.json"));
  assert.equal(config.host, "web-1.example.com");
  assert.equal(config.heartbeatSec, 5);
  assert.equal(config.mqtt.clientId, "mandrill-agent-web-1.example.com");
});

Deno.test("loadAgentConfig() rejects a controller config", async () => {
  const error = await configErrorOfAsync(loadAgentConfig(fixture("design_example.json")));
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(error.issues.map((issue) => issue.path), [
    "host",
    "security.commandKeyFile",
    "store",
    "http",
    "executors",
    "hosts",
    "policy",
    "shutdown",
    "security.controllerKeyFile",
  ]);
});

Deno.test("loadConfig() refuses hostile files with one clear line: too large, not a regular file, too deep, not UTF-8", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const message = async (path: string) => (await configErrorOfAsync(loadConfig(path))).message;
    await t.step("over 16 MiB, and /dev/zero, which never ends", async () => {
      const big = `${dir}/big.json`;
      await Deno.writeFile(big, new Uint8Array(16 * 1024 * 1024 + 1).fill(0x20));
      assert.equal(await message(big), `${big}: is larger than 16 MiB: not a config file`);
      assert.match(await message("/dev/zero"), /^\/dev\/zero: is not a regular file/);
    });
    await t.step("a directory and a FIFO (which would block a plain open)", async () => {
      assert.equal(await message(dir), `${dir}: is a directory, not a file`);
      const fifo = `${dir}/fifo.json`;
      const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert.ok(mk.success);
      assert.match(
        await message(fifo),
        /: is not a regular file \(a device, a pipe or a socket\)$/,
      );
    });
    await t.step("deep nesting is an error, not a RangeError stack", async () => {
      const deep = `${dir}/deep.json`;
      await Deno.writeTextFile(deep, `{"hosts":\n${"[".repeat(200_000)}${"]".repeat(200_000)}}`);
      assert.equal(
        await message(deep),
        `${deep}: nested deeper than 64 levels (at line 2): not a config file`,
      );
      // Brackets inside strings do not count.
      await withTempFile(JSON.stringify({ log: { level: "[".repeat(100) } }), async (p) => {
        assert.doesNotMatch(await message(p), /nested/);
      });
    });
    await t.step("invalid UTF-8 names the byte offset, never replaced silently", async () => {
      const bad = `${dir}/bad.json`;
      const bytes = new TextEncoder().encode('{"mqtt": {"url": "mqtt://h\u00e9:1883"}}');
      const at = bytes.indexOf(0xc3);
      // The first byte of "é" without its second: a truncated sequence.
      await Deno.writeFile(
        bad,
        new Uint8Array([...bytes.slice(0, at + 1), ...bytes.slice(at + 2)]),
      );
      assert.equal(await message(bad), `${bad}: is not valid UTF-8: byte 0xc3 at offset ${at}`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readJsonFile() reads a file that says it is empty but is not (a /proc file)", async () => {
  // /proc files report size 0; this one holds a number of several digits, which is JSON.
  const path = "/proc/sys/kernel/pid_max";
  assert.equal((await Deno.stat(path)).size, 0);
  const expected = Number(await Deno.readTextFile(path));
  assert.ok(expected >= 10);
  assert.equal(await readJsonFile(path), expected);
});
