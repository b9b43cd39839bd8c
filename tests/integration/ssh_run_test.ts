/**
 * `mandrill run` restarting over SSH against a real sshd: the remote command
 * runs, then recovery tracking probes the boot id over SSH. The test machine
 * does not really reboot, so its boot id never changes and the controller
 * must report "did not come back" — proof the boot id was read before the
 * restart and probed after it.
 */
import assert from "node:assert/strict";
import { SqliteStore } from "../../src/store/mod.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { startSshd } from "../_helpers/sshd.ts";
import { waitFor } from "../_helpers/wait.ts";
import { writeTestConfig } from "../_helpers/config.ts";

Deno.test("ssh: mandrill run restarts over SSH, then reports a host whose boot id never changes as not back", async () => {
  await using broker = await Mosquitto.start();
  await using sshd = await startSshd();
  const dir = await Deno.makeTempDir();
  const marker = `${dir}/restarted`;
  const file = await writeTestConfig(dir, broker.url, {
    mqtt: { clientId: "mandrill-ssh-it" },
    executors: {
      ssh: {
        type: "ssh",
        user: sshd.user,
        port: sshd.port,
        identityFile: sshd.identityFile,
        knownHostsFile: sshd.knownHostsFile,
        command: ["sh", "-c", `echo "$0" >> ${marker}`, "restarted"],
        timeoutSec: 20,
      },
    },
    hosts: { "web-1": { executor: "ssh", address: "127.0.0.1" } },
    recovery: { timeoutSec: 3, probeIntervalSec: 0.5 },
  });
  await using events = await EventCollector.start(broker.url);
  await using proc = MandrillProcess.start(["run", "--config", file]);
  await proc.waitForLine(/Subscribed to/);
  await using pub = await connectClient(broker.url);
  await publishAll(pub, "mandrill/restart", [JSON.stringify({ id: "s-1", host: "web-1" })]);
  const done = await waitFor(
    () => events.events.find((e) => e.id === "s-1" && ["succeeded", "failed"].includes(e.phase)),
    {
      what: "the ssh restart to finish",
      timeoutMs: 30_000,
    },
  );
  assert.equal(done.phase, "succeeded", done.detail ?? "");
  assert.equal((await Deno.readTextFile(marker)).trim(), "restarted");
  const notBack = await waitFor(
    () => events.events.find((e) => e.id === "s-1" && e.phase === "failed"),
    {
      what: "recovery to give up",
      timeoutMs: 30_000,
    },
  );
  assert.match(notBack.detail ?? "", /did not come back/);
  assert.equal(events.phase("recovered").length, 0, "recovered without a new boot id");
  proc.kill("SIGTERM");
  assert.equal((await proc.exited()).code, 0);
  {
    using store = SqliteStore.openReader(`${dir}/m.db`);
    const h = store.historyGet("s-1");
    assert.equal(h?.outcome, "failed");
    assert.match(h?.detail ?? "", /did not come back/);
  }
  await Deno.remove(dir, { recursive: true });
});
