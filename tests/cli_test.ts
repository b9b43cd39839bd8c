import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const fixture = (name: string): string =>
  new URL(`config/fixtures/${name}`, import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function mandrill(...args: string[]): Promise<Run> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-check", "main.ts", ...args],
    cwd: root,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("mandrill --help lists the commands", async (t) => {
  for (const args of [["--help"], ["-h"], ["help"]]) {
    await t.step(args.join(" "), async () => {
      const run = await mandrill(...args);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /Usage: mandrill <command>/);
      assert.match(run.stdout, /^ {2}config +Check a config file/m);
      assert.match(run.stdout, /^ {2}version +Print the version/m);
      assert.equal(run.stderr, "");
    });
  }
});

Deno.test("mandrill help <command> shows that command's usage", async () => {
  const run = await mandrill("help", "config");
  assert.equal(run.code, 0);
  assert.match(run.stdout, /Usage: mandrill config <check\|schema>/);
});

Deno.test("mandrill version prints the version", async (t) => {
  const { VERSION } = await import("../src/version.ts");
  for (const args of [["version"], ["--version"]]) {
    await t.step(args.join(" "), async () => {
      const run = await mandrill(...args);
      assert.equal(run.code, 0);
      assert.equal(run.stdout, `mandrill ${VERSION}\n`);
    });
  }
});

Deno.test("an unknown or missing command is a usage error (exit 2)", async (t) => {
  await t.step("unknown", async () => {
    const run = await mandrill("restart-everything");
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /unknown command "restart-everything"/);
    assert.match(run.stderr, /Usage: mandrill <command>/);
  });
  await t.step("missing", async () => {
    const run = await mandrill();
    assert.equal(run.code, 2);
    assert.match(run.stderr, /Usage: mandrill <command>/);
  });
});

Deno.test("mandrill config check accepts a valid file (exit 0)", async () => {
  const file = fixture("design_example.json");
  const run = await mandrill("config", "check", "--no-files", file);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${file}: ok\n`);
});

Deno.test("mandrill config check --agent checks an agent config", async () => {
  const file = fixture("agent.json");
  const run = await mandrill("config", "check", "--agent", "--no-files", file);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${file}: ok\n`);
});

Deno.test("mandrill config check lists all five mistakes of a file (exit 1)", async () => {
  const file = fixture("five_mistakes.json");
  const run = await mandrill("config", "check", file);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "");
  assert.deepEqual(run.stderr.trimEnd().split("\n"), [
    `${file}: mqtt.keepAliveSec: unknown key; did you mean "keepaliveSec"?`,
    `${file}: hosts.web_2: invalid key: must be an RFC 1123 host name of at most 253 characters`,
    `${file}: policy.maxUnavailable: expected a positive integer, got -1`,
    `${file}: log.format: expected one of "json", "pretty", got "xml"`,
    `${file}: hosts["web-1.example.com"].executor: unknown executor "sshh"; did you mean "ssh"?`,
  ]);
});

Deno.test("mandrill config check reports a missing file (exit 1)", async () => {
  const run = await mandrill("config", "check", "no-such-file.json");
  assert.equal(run.code, 1);
  assert.equal(run.stderr, "no-such-file.json: file not found\n");
});

Deno.test("mandrill config usage errors exit 2 with the usage", async (t) => {
  const cases: [string[], RegExp, RegExp][] = [
    [["config", "check"], /missing FILE/, /Usage: mandrill config check/],
    [
      ["config", "check", "a.json", "b.json"],
      /expected exactly one FILE/,
      /Usage: mandrill config check/,
    ],
    [
      ["config", "check", "--strict", "a.json"],
      /Unknown option '--strict'/,
      /Usage: mandrill config check/,
    ],
    [["config", "schema", "--out", "x"], /Unknown option '--out'/, /Usage: mandrill config schema/],
    [["config"], /missing command/, /Usage: mandrill config/],
    [["config", "lint"], /unknown command "lint"/, /Usage: mandrill config/],
  ];
  for (const [args, error, usage] of cases) {
    await t.step(args.join(" "), async () => {
      const run = await mandrill(...args);
      assert.equal(run.code, 2);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, error);
      assert.match(run.stderr, usage);
    });
  }
});

Deno.test("mandrill config schema prints the JSON Schema", async () => {
  const run = await mandrill("config", "schema");
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.endsWith("}\n"));
  const schema = JSON.parse(run.stdout);
  assert.equal(schema.$id, "urn:mandrill:config");
  assert.equal(schema.title, "mandrill config");
  assert.equal(schema.properties.policy.properties.maxUnavailable.default, 4);
});

Deno.test("mandrill config schema --output writes the schema to a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/schema.json`;
    const run = await mandrill("config", "schema", "--output", path);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
    const printed = await mandrill("config", "schema");
    assert.equal(await Deno.readTextFile(path), printed.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the committed mandrill.schema.json is up to date", async () => {
  const run = await mandrill("config", "schema");
  assert.equal(run.code, 0, run.stderr);
  const committed = await Deno.readTextFile(new URL("mandrill.schema.json", root));
  assert.ok(
    committed === run.stdout,
    "mandrill.schema.json is stale: run `deno task schema` and commit the result",
  );
});

Deno.test("mandrill config check names the files it cannot read (exit 1); run stops at start on them (exit 78) before connecting", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/m.json`;
    await Deno.mkdir(`${dir}/a-directory`);
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        mqtt: { url: "mqtts://127.0.0.1:1", tls: { caFile: `${dir}/missing-ca.pem` } },
        store: { path: `${dir}/m.db` },
        http: { listen: null },
        executors: { s: { type: "ssh", identityFile: `${dir}/a-directory` } },
        hosts: { h: { executor: "s" } },
      }),
    );
    const check = await mandrill("config", "check", file);
    assert.equal(check.code, 1);
    assert.deepEqual(check.stderr.trimEnd().split("\n"), [
      `${file}: mqtt.tls.caFile: cannot read ${dir}/missing-ca.pem: file not found`,
      `${file}: executors.s.identityFile: cannot read ${dir}/a-directory: is a directory`,
    ]);
    const run = await mandrill("run", "--config", file);
    assert.equal(run.code, 78);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.equal(
      JSON.parse(lines[0]!).message,
      `Cannot start: mqtt.tls.caFile ${dir}/missing-ca.pem: file not found; executors.s.identityFile ${dir}/a-directory: is a directory`,
    );
    await assert.rejects(Deno.stat(`${dir}/m.db`), Deno.errors.NotFound, "the store was created");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
