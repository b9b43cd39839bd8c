/**
 * 200 hosts coming back over SSH with `recovery.maxProbes: 4`: one real sshd
 * listening on 200 loopback addresses, one per host, whose forced command
 * plays each host — the restart marks it rebooting, a boot id probe answers
 * its old boot id until a second after that, then a new one — and counts
 * how many probes run at once.
 */
import assert from "node:assert/strict";
import { writeTestConfig } from "../_helpers/config.ts";
import { Mosquitto } from "../_helpers/mosquitto.ts";
import { connectClient, EventCollector, publishAll } from "../_helpers/mqtt.ts";
import { MandrillProcess } from "../_helpers/process.ts";
import { startSshd } from "../_helpers/sshd.ts";
import { waitFor } from "../_helpers/wait.ts";

const HOSTS = 200;
const MAX_PROBES = 4;

/** The forced command: one host per server address, state in `dir`. No message content reaches it. */
function hostScript(dir: string): string {
  return `#!/bin/sh
set -u
ip=$(echo "$SSH_CONNECTION" | cut -d' ' -f3)
n=$(echo "$ip" | cut -d. -f4)
case "$SSH_ORIGINAL_COMMAND" in
  *restart-me*)
    date +%s > "${dir}/rebooted-$ip"
    exit 0 ;;
esac
# A probe: count it while it runs.
exec 9>"${dir}/lock"
flock 9
cur=$(( $(cat "${dir}/running") + 1 ))
echo "$cur" > "${dir}/running"
[ "$cur" -gt "$(cat "${dir}/max")" ] && echo "$cur" > "${dir}/max"
echo x >> "${dir}/probes"
flock -u 9
sleep 0.1
id=$(printf '00000000-0000-4000-8000-%012d' "$n")
uptime="100000.00 0.00"
if [ -f "${dir}/rebooted-$ip" ] && [ $(( $(date +%s) - $(cat "${dir}/rebooted-$ip") )) -ge 1 ]; then
  id=$(printf '11111111-0000-4000-8000-%012d' "$n")
  uptime="1.00 0.00"
fi
echo "$id"
echo "$uptime"
flock 9
echo $(( $(cat "${dir}/running") - 1 )) > "${dir}/running"
flock -u 9
`;
}

Deno.test(`ssh: ${HOSTS} hosts coming back with recovery.maxProbes ${MAX_PROBES} — never more than ${MAX_PROBES} probes at once (counted by the probe itself), all recovered`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "mandrill-probes-it-" });
  try {
    const state = `${dir}/state`;
    await Deno.mkdir(state);
    await Deno.writeTextFile(`${state}/running`, "0");
    await Deno.writeTextFile(`${state}/max`, "0");
    await Deno.writeTextFile(`${state}/probes`, "");
    await Deno.writeTextFile(`${dir}/host.sh`, hostScript(state));
    await Deno.chmod(`${dir}/host.sh`, 0o755);
    const addresses = Array.from({ length: HOSTS }, (_, i) => `127.0.1.${i + 1}`);
    await using sshd = await startSshd({
      extraAddresses: addresses,
      forcedCommand: `${dir}/host.sh`,
      extraConfig: ["MaxStartups 200", "MaxSessions 200"],
    });
    await using broker = await Mosquitto.start();
    const hosts = Object.fromEntries(
      addresses.map((address, i) => [`h-${i + 1}`, { executor: "ssh", address }]),
    );
    const file = await writeTestConfig(dir, broker.url, {
      executors: {
        ssh: {
          type: "ssh",
          user: sshd.user,
          port: sshd.port,
          identityFile: sshd.identityFile,
          knownHostsFile: sshd.knownHostsFile,
          command: ["restart-me"],
          // Generous, so no probe is killed on a loaded machine: a killed
          // probe's remote session outlives its slot for a moment, and the
          // count here is taken on the remote side.
          timeoutSec: 120,
        },
      },
      hosts,
      policy: { minIntervalSec: 0, maxPerHour: 10_000, maxUnavailable: 50, maxWaitSec: 600 },
      recovery: {
        timeoutSec: 120,
        probeIntervalSec: 0.2,
        probeMaxIntervalSec: 1,
        maxProbes: MAX_PROBES,
        probeTimeoutSec: 60,
      },
    });
    await using events = await EventCollector.start(broker.url);
    await using run = MandrillProcess.start(["run", "--config", file]);
    await run.waitForLine(/Kill switch: \W*running/, { timeoutMs: 30_000 });
    await using pub = await connectClient(broker.url);
    await publishAll(
      pub,
      "mandrill/restart",
      addresses.map((_, i) => JSON.stringify({ id: `p-${i + 1}`, host: `h-${i + 1}` })),
    );
    await events.waitTerminal(HOSTS, { timeoutMs: 180_000 });
    await waitFor(
      () => events.phase("recovered").length >= HOSTS || events.phase("failed").length > 0,
      {
        what: `${HOSTS} hosts recovered`,
        timeoutMs: 180_000,
        intervalMs: 200,
      },
    );
    assert.deepEqual(
      events.phase("failed").map((e) => `${e.id}: ${e.detail}`),
      [],
      "a restart failed",
    );
    const recovered = new Set(events.phase("recovered").map((e) => e.id));
    assert.equal(recovered.size, HOSTS, `${recovered.size} of ${HOSTS} recovered`);
    assert.equal(events.phase("succeeded").length, HOSTS, "each restart succeeded once");
    const max = Number(await Deno.readTextFile(`${state}/max`));
    const probes = (await Deno.readTextFile(`${state}/probes`)).length / 2;
    assert.ok(max <= MAX_PROBES, `${max} probes ran at once (maxProbes ${MAX_PROBES})`);
    assert.ok(max >= 2, `the probes never overlapped (max ${max}): the test proves nothing`);
    // A pre-restart probe and at least one after, per host (a pre-restart
    // probe that timed out on a loaded machine may not have counted itself).
    const noBaseline = run.lines.filter((l) => /Cannot read the boot id of/.test(l)).length;
    assert.ok(
      probes >= 2 * HOSTS - noBaseline,
      `${probes} probes for ${HOSTS} hosts (${noBaseline} without a pre-restart boot id)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
