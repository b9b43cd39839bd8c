/**
 * `mandrill dev` as a person runs it: chaos restarts go through the pipeline
 * and hosts recover with no outside service; pausing from another "terminal"
 * stops new restarts, resuming lets them through again; Ctrl-C is clean.
 */
import assert from "node:assert/strict";
import { connectClient } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function mandrill(...args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-check", MAIN, ...args],
  }).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr),
  };
}

Deno.test("dev: chaos restarts and recoveries within 30 s; pause stops restarts, resume lets them through", async () => {
  await using dev = MandrillProcess.start([
    "dev",
    "--hosts",
    "6",
    "--port",
    "0",
    "--http-port",
    "0",
  ]);
  const brokerLine = await dev.waitForLine(/Embedded MQTT broker .* port \d+/);
  const port = Number(brokerLine.match(/port (\d+)/)![1]);
  const configPath = (await dev.waitForLine(/Dev config: /)).match(/Dev config: (\S+)/)![1]!;

  await dev.waitForLine(/Chaos: restarting sim-\d+/, { timeoutMs: 30_000 });
  await dev.waitForLine(/Request chaos-\S+ for sim-\d+ succeeded/, { timeoutMs: 30_000 });
  await dev.waitForLine(/sim-\d+ is back after/, { timeoutMs: 30_000 });

  // The budget demo: two restarts in group db at once; the second waits until
  // the first host is back, and only then starts.
  await dev.waitForLine(/Request demo-\S+-2 for sim-5 waits: group db: sim-2 /, {
    timeoutMs: 30_000,
  });
  await dev.waitForLine(/Restarting sim-5 with executor agent \(dev demo/, { timeoutMs: 30_000 });
  const at = (re: RegExp) => dev.lines.findIndex((l) => re.test(l));
  assert.ok(
    at(/sim-2 is back after .* id=demo-/) < at(/Restarting sim-5 with executor agent \(dev demo/),
    "sim-5 was restarted before sim-2 was back",
  );

  const paused = await mandrill("pause", "--config", configPath, "--reason", "coffee");
  assert.equal(paused.code, 0, paused.out);
  await dev.waitForLine(/Kill switch engaged: all new restarts paused: coffee/, {
    timeoutMs: 1_000,
  });
  await using pub = await connectClient(`mqtt://127.0.0.1:${port}`, undefined, 4);
  await pub.publishAsync("mandrill/restart", JSON.stringify({ id: "manual-1", host: "sim-1" }), {
    qos: 1,
  });
  const skipped = await dev.waitForLine(/Request manual-1 for sim-1 skipped/);
  assert.match(skipped, /paused: coffee/);

  const resumed = await mandrill("resume", "--config", configPath);
  assert.equal(resumed.code, 0, resumed.out);
  await dev.waitForLine(/Kill switch released/, { timeoutMs: 1_000 });
  // A host chaos has not touched recently: the manual request goes through.
  const restarted = new Set(
    dev.lines.map((l) => l.match(/Restarting (sim-\d+)/)?.[1]).filter(Boolean),
  );
  const fresh = ["sim-1", "sim-2", "sim-3", "sim-4", "sim-5", "sim-6"].find((h) =>
    !restarted.has(h)
  );
  if (fresh) {
    await pub.publishAsync("mandrill/restart", JSON.stringify({ id: "manual-2", host: fresh }), {
      qos: 1,
    });
    await dev.waitForLine(new RegExp(`Request manual-2 for ${fresh} succeeded`));
  } else {
    const before = dev.lines.filter((l) => /succeeded: rebooting/.test(l)).length;
    await waitFor(() => dev.lines.filter((l) => /succeeded: rebooting/.test(l)).length > before, {
      what: "chaos to restart again after resume",
      timeoutMs: 30_000,
    });
  }

  dev.kill("SIGINT");
  const status = await dev.exited();
  assert.equal(status.code, 0, dev.lines.slice(-10).join("\n"));
  assert.ok(dev.lines.some((l) => /Shutdown complete/.test(l)));
});
