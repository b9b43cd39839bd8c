/**
 * ssh-recovery: every host of an {@linkcode SshFleet} restarted by `mandrill
 * run` with `recovery: "boot"`, 20 at once, until all are `recovered`. The
 * sshd's forced command plays each host: `restart-me` records a restart (a
 * new boot generation and its time); any other command is mandrill's boot-id
 * probe (`cat /proc/sys/kernel/random/boot_id /proc/uptime`), answered with
 * the previous generation's boot id until `delaySec` after the restart, then
 * the new one. It counts restarts and probes, so the run reports how many ssh
 * sessions each host cost.
 *
 * Timed from the publisher's first send to the last `recovered_at` in the
 * history; every `failed` event (a restart or a probe that timed out, a host
 * that did not come back) is counted and kept.
 * @module
 */
import type { RestartEvent } from "../../src/contract/messages.ts";
import { EventCollector } from "../../tests/_helpers/mqtt.ts";
import type { BenchContext } from "./context.ts";
import { waitUntil } from "./proc.ts";
import type { SshFleet } from "./ssh_fleet.ts";
import { runOnFleet } from "./ssh_run.ts";

/** The remote command of a restart; the host script recognizes it. */
export const RESTART_COMMAND = ["restart-me"];

/** The forced command of the recovery fleet: hosts that come back `delaySec` after a restart. */
export function hostScript(delaySec: number): (stateDir: string) => string {
  const delayMs = Math.round(delaySec * 1000);
  return (dir) =>
    `#!/bin/sh
# Plays the host reached on this address. State per host: "generation restart-ms".
set -u
set -- $SSH_CONNECTION
ip=$3
state="${dir}/host-$ip"
now=$(date +%s%3N)
gen=0
at=0
[ -f "$state" ] && read gen at < "$state"
case "$SSH_ORIGINAL_COMMAND" in
  *restart-me*)
    echo "$((gen + 1)) $now" > "$state.tmp" && mv "$state.tmp" "$state"
    echo r >> "${dir}/restarts"
    exit 0 ;;
esac
echo p >> "${dir}/probes"
old_ifs=$IFS
IFS=.
set -- $ip
IFS=$old_ifs
up="100000.00"
if [ "$gen" -gt 0 ]; then
  if [ $((now - at)) -lt ${delayMs} ]; then
    gen=$((gen - 1))
  else
    up="$(( (now - at - ${delayMs}) / 1000 )).00"
  fi
fi
printf '%08x-0000-4000-8000-%04x%08x\\n' "$gen" "$3" "$4"
echo "$up 0.00"
`;
}

/** Options of {@linkcode recoveryRun}. */
export interface RecoveryRunOptions {
  /** Restarts at once (maxUnavailable). */
  concurrency: number;
  /** `recovery.maxProbes`. */
  maxProbes: number;
  /** `recovery.probeIntervalSec` (the first probe after a restart; backs off from there). */
  probeIntervalSec: number;
  /** `recovery.probeMaxIntervalSec`. */
  probeMaxIntervalSec: number;
}

/** One ssh-recovery run. */
export interface RecoveryRun {
  /** First send → last `recovered_at`, s. */
  seconds: number;
  recovered: number;
  /** Every `failed` event: restarts that failed or timed out, hosts that did not come back. */
  failed: { id: string; detail: string }[];
  /** Of those, the ones that timed out (a restart, or a host not back in time). */
  timedOut: number;
  /** ssh sessions the fake hosts saw, per host: restarts, and boot-id probes (before and after). */
  restartsPerHost: number;
  probesPerHost: number;
  /** mandrill's own CPU per restart (its process, children not), ms. */
  cpuMsPerRestart: number;
}

/** Restarts every host of `fleet` (whose sshd runs {@linkcode hostScript}) until all are back. */
export async function recoveryRun(
  ctx: BenchContext,
  fleet: SshFleet,
  o: RecoveryRunOptions,
): Promise<RecoveryRun> {
  const count = fleet.names.length;
  return await runOnFleet(ctx, fleet, {
    scenario: "ssh-recovery",
    command: RESTART_COMMAND,
    recovery: "boot",
    concurrency: o.concurrency,
    idPrefix: "r-",
    policy: { maxWaitSec: 600 },
    recoverySection: {
      timeoutSec: 120,
      probeIntervalSec: o.probeIntervalSec,
      probeMaxIntervalSec: o.probeMaxIntervalSec,
      maxProbes: o.maxProbes,
    },
  }, async ({ m, prefix, send }) => {
    await using events = await EventCollector.start(ctx.broker.url, prefix);
    const sessions0 = await _sessions(fleet);
    const cpu0 = m.cpuSeconds();
    const p = await send();
    const ours = (e: RestartEvent) => e.id.startsWith("r-");
    const ended = () =>
      new Set(
        events.events.filter((e) => ours(e) && (e.phase === "recovered" || e.phase === "failed"))
          .map((e) => e.id),
      );
    try {
      await waitUntil(() => {
        if (m.proc.status) throw new Error(`mandrill exited (${m.proc.status.code})`);
        return ended().size >= count;
      }, { timeoutMs: 600_000, intervalMs: 100, what: `${count} hosts recovered or failed` });
    } catch (err) {
      throw new Error(
        `ssh-recovery: ${(err as Error).message}; history: ` +
          `${JSON.stringify(m.recoveries("r-"))}${m.proc.tail()}`,
      );
    }
    const cpu = m.cpuSeconds() - cpu0;
    const sessions = await _sessions(fleet);
    const h = m.recoveries("r-");
    const failed = events.phase("failed").filter(ours).map((e) => ({
      id: e.id,
      detail: e.detail ?? "",
    }));
    const succeeded = new Set(events.phase("succeeded").filter(ours).map((e) => e.id));
    if (failed.length === 0 && (succeeded.size !== count || h.recovered !== count)) {
      throw new Error(
        `ssh-recovery: no failure, yet ${succeeded.size} of ${count} restarts succeeded and ` +
          `${h.recovered} recovered`,
      );
    }
    return {
      seconds: (h.lastRecoveredAt - p.firstSendAt) / 1000,
      recovered: h.recovered,
      failed,
      timedOut: failed.filter((f) => /did not (finish|come back)|timed? ?out/i.test(f.detail))
        .length,
      restartsPerHost: (sessions.restarts - sessions0.restarts) / count,
      probesPerHost: (sessions.probes - sessions0.probes) / count,
      cpuMsPerRestart: (cpu / count) * 1000,
    };
  });
}

/** Restarts and probes the host script has counted so far (one byte and a newline each). */
async function _sessions(fleet: SshFleet): Promise<{ restarts: number; probes: number }> {
  const lines = async (name: string) =>
    (await Deno.stat(`${fleet.stateDir}/${name}`).then((s) => s.size).catch(() => 0)) / 2;
  return { restarts: await lines("restarts"), probes: await lines("probes") };
}
