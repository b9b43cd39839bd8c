import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function agent(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-check", MAIN, "agent", ...args],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("mandrill agent --help prints the usage and exits 0", async () => {
  const run = await agent("--help");
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^Usage: mandrill agent --config FILE/);
});

Deno.test("mandrill agent without --config or with an unknown flag is a usage error (exit 2)", async () => {
  for (const args of [[], ["--config"], ["--bogus"]]) {
    const run = await agent(...args);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, /Usage: mandrill agent/);
  }
});

Deno.test("mandrill agent exits 1 naming the problem: bad config, unreadable boot id", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-agent-cli-" });
  try {
    const missing = await agent("--config", `${dir}/nope.json`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /file not found/);
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ host: "web_1!" }));
    const bad = await agent("--config", `${dir}/bad.json`);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /host/);
    await Deno.writeTextFile(
      `${dir}/noproc.json`,
      JSON.stringify({
        host: "web-1",
        procRoot: `${dir}/none`,
        stateFile: `${dir}/s.json`,
        security: { allowUnsigned: true },
      }),
    );
    const noproc = await agent("--config", `${dir}/noproc.json`);
    assert.equal(noproc.code, 1);
    assert.match(noproc.stderr, /Cannot start the agent: .*Cannot read .*boot_id/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
