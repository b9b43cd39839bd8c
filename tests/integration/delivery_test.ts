/**
 * A broker that refuses or withholds mandrill's subscriptions (an ACL that
 * denies reading `{p}/restart`): `/readyz` says so instead of 200, on MQTT 5
 * and on 3.1.1; with the ACL fixed, it is ready.
 */
import assert from "node:assert/strict";
import { writeTestConfig } from "../_helpers/config.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";

async function readyz(port: number): Promise<{ status: number; reasons: string[] } | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    return { status: r.status, reasons: (await r.json()).reasons };
  } catch {
    return undefined;
  }
}

/** A broker where user `mandrill` may do everything under `mandrill/` but read `mandrill/restart`. */
async function brokerDenyingRestart(dir: string): Promise<Mosquitto> {
  const passwd = `${dir}/passwd`;
  await Deno.writeTextFile(passwd, "");
  const out = await new Deno.Command("mosquitto_passwd", {
    args: ["-b", passwd, "mandrill", "s3cret"],
  })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  await Deno.chmod(passwd, 0o600);
  const acl = `${dir}/acl`;
  await Deno.writeTextFile(
    acl,
    [
      "user mandrill",
      "topic readwrite mandrill/agents/#",
      "topic readwrite mandrill/control",
      "topic write mandrill/events",
      "topic write mandrill/deadletter",
      "topic write mandrill/restart",
      "",
    ].join("\n"),
  );
  return await Mosquitto.start({
    extraConfig: ["allow_anonymous false", `password_file ${passwd}`, `acl_file ${acl}`],
  });
}

for (const protocolVersion of [5, 4] as const) {
  Deno.test(`delivery: an ACL that denies reading {p}/restart makes /readyz say so (MQTT ${protocolVersion === 5 ? "5" : "3.1.1"})`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await using broker = await brokerDenyingRestart(dir);
      const file = await writeTestConfig(dir, broker.url, {
        mqtt: { username: "mandrill", password: "s3cret", protocolVersion },
        http: { listen: "127.0.0.1:0" },
      });
      await using run = MandrillProcess.start(["run", "--config", file]);
      const port = await run.httpPort();
      const r = await waitFor(async () => {
        const r = await readyz(port);
        return r && r.reasons.some((x) => /mandrill\/restart/.test(x)) ? r : undefined;
      }, { what: "/readyz naming mandrill/restart", timeoutMs: 20_000 });
      assert.equal(r.status, 503);
      assert.match(
        r.reasons.join("; "),
        /(subscription to mandrill\/restart refused by the broker|does not deliver mandrill\/restart)/,
      );
      run.kill("SIGTERM");
      assert.equal((await run.exited()).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("delivery: with every subscription delivered, /readyz is 200", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using broker = await Mosquitto.start();
    const file = await writeTestConfig(dir, broker.url, { http: { listen: "127.0.0.1:0" } });
    await using run = MandrillProcess.start(["run", "--config", file]);
    const port = await run.httpPort();
    await waitFor(async () => (await readyz(port))?.status === 200, { what: "ready" });
    run.kill("SIGTERM");
    assert.equal((await run.exited()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
