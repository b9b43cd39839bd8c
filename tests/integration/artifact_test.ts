/**
 * The shipped artifact: the bundle (`deno task bundle`) runs a full restart
 * under exactly the permissions `deno task compile` bakes into the binary; the
 * compiled binary itself is tested where a Deno runtime (`DENORT_BIN`) is at hand.
 */
import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { waitFor } from "../_helpers/wait.ts";
import { writeTestConfig } from "../_helpers/config.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The `--allow-*` flags of the compile task: the binary's permissions. */
function compilePermissions(): string[] {
  const flags = denoJson.tasks.compile.split(/\s+/).filter((a) => a.startsWith("--allow-"));
  assert.ok(flags.length > 0, "the compile task bakes in no permissions");
  assert.ok(
    !flags.includes("--allow-all") && !flags.includes("-A"),
    "the compile task grants everything",
  );
  return flags;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts `argv` as mandrill run and checks one restart end to end. */
async function fullRestart(argv: string[]): Promise<void> {
  await using broker = await Mosquitto.start();
  const dir = await Deno.makeTempDir();
  const file = await writeTestConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-artifact" },
    executors: {
      local: { type: "command", argv: ["sh", "-c", `echo "$1" > '${dir}/marker'`, "sh"] },
    },
    hosts: { "web-1": { executor: "local" } },
  });
  await using events = await EventCollector.start(broker.url);
  const proc = new Deno.Command(argv[0]!, {
    args: [...argv.slice(1), "run", "--config", file],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = proc.stderr.pipeThrough(new TextDecoderStream());
  let log = "";
  const reading = (async () => {
    for await (const chunk of stderr) log += chunk;
  })();
  try {
    await waitFor(() => /Subscribed to/.test(log), {
      what: "the artifact to subscribe",
      timeoutMs: 30_000,
    });
    await using pub = await connectClient(broker.url);
    await publishAll(pub, "mandrill/restart", [JSON.stringify({ id: "art-1", host: "web-1" })]);
    await waitFor(() => events.phase("succeeded").some((e) => e.id === "art-1"), {
      what: "the restart to succeed",
    });
    assert.equal((await Deno.readTextFile(`${dir}/marker`)).trim(), "web-1");
  } finally {
    proc.kill("SIGTERM");
    const status = await proc.status;
    await reading;
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, log.slice(-2000));
  }
}

Deno.test("artifact: the bundle runs a full restart with only the compiled binary's permissions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bundle = `${dir}/mandrill.js`;
    const built = await run(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "-o",
      bundle,
      "main.ts",
    ]);
    assert.equal(built.code, 0, built.stderr);
    const version = await run(Deno.execPath(), ["run", ...compilePermissions(), bundle, "version"]);
    assert.match(version.stdout, /^mandrill \d+\.\d+\.\d+/);
    await fullRestart([Deno.execPath(), "run", ...compilePermissions(), bundle]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const denort = Deno.env.get("DENORT_BIN");
if (!denort) {
  // deno-lint-ignore no-console
  console.log(
    "artifact: skipping the compiled-binary test: DENORT_BIN is not set (deno compile needs the denort runtime, which this machine cannot download)",
  );
}

Deno.test({
  name: "artifact: the compiled binary runs a full restart",
  ignore: !denort,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const bin = `${dir}/mandrill`;
      const args = denoJson.tasks.compile.split(/\s+/).slice(2).map((
        a,
      ) => (a === "dist/mandrill" ? bin : a));
      const built = await run(Deno.execPath(), args, { DENORT_BIN: denort! });
      assert.equal(built.code, 0, built.stderr);
      assert.match((await run(bin, ["version"])).stdout, /^mandrill /);
      await fullRestart([bin]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
