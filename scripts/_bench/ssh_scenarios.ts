/**
 * The ssh scenarios' figures and goals (issue 16):
 * - ssh-fanout: hosts/s of mandrill, of its ceiling (`xargs -P`) and of its
 *   peers (Ansible, pssh), mandrill's ratio to each, its CPU per restart;
 *   goals ≥ 0.9 of xargs and ≥ 2× Ansible.
 * - ssh-recovery: time until every host is `recovered` against the ideal
 *   (waves of `sshConcurrency` × (one restart + the boot delay)) and against
 *   what the ssh sessions alone cost at the xargs rate, and the failed events.
 * @module
 */
import type { BenchContext } from "./context.ts";
import { type Figures, repeat } from "./figures.ts";
import {
  fanoutPeers,
  type MandrillFanoutRun,
  mandrillFanoutRun,
  type Peer,
  type PeerRun,
} from "./ssh_fanout.ts";
import { SshFleet } from "./ssh_fleet.ts";
import { hostScript, type RecoveryRun, recoveryRun } from "./ssh_recovery.ts";
import { median } from "./stats.ts";

/** ssh-recovery's probe pace: first probe 0.5 s after a restart, then every 1 s at most. */
const PROBE_INTERVAL_SEC = 0.5;
const PROBE_MAX_INTERVAL_SEC = 1;

/** What the figures of one scenario need besides the collector. */
export interface ScenarioSink {
  f: Figures;
  details: Record<string, unknown>;
  notes: string[];
}

/** What ssh-fanout measured, for ssh-recovery's ideal. */
export interface FanoutResult {
  /** The xargs ceiling's runs (hosts/s), if it ran. */
  xargs: PeerRun[];
}

const fmt = (n: number) => n.toLocaleString("en-US");

/**
 * The options of ssh-fanout-x25519: every tool with the X25519 key exchange
 * instead of OpenSSH's default post-quantum hybrid, which costs each ssh
 * client most of its CPU.
 */
const X25519_OPTIONS: readonly string[] = ["KexAlgorithms=curve25519-sha256"];

/**
 * ssh-fanout (every tool with `ctx.sshOptions`) or ssh-fanout-x25519 (with
 * {@linkcode X25519_OPTIONS} too): each peer, then mandrill, round robin
 * `ctx.runs` times, on one sshd.
 */
export async function sshFanoutScenario(
  ctx: BenchContext,
  out: ScenarioSink,
  scenario: "ssh-fanout" | "ssh-fanout-x25519" = "ssh-fanout",
): Promise<FanoutResult> {
  const { sshHosts: hosts, sshConcurrency: n } = ctx.sizes;
  const { f } = out;
  const x25519 = scenario === "ssh-fanout-x25519";
  const sshOptions = x25519 ? [...ctx.sshOptions, ...X25519_OPTIONS] : ctx.sshOptions;
  const goalSuffix = x25519 ? `, every tool with ${X25519_OPTIONS.join(" ")}` : "";
  await using fleet = await SshFleet.start({ hosts, sshOptions });
  const peers = await fanoutPeers();
  for (const p of peers.filter((p) => p.missing)) {
    ctx.progress(`${scenario}: ${p.name} skipped: ${p.missing}`);
    out.notes.push(`${scenario}: ${p.name} skipped: ${p.missing}.`);
  }
  const available = peers.filter((p) => !p.missing);
  // Round robin (xargs, the peers, mandrill; then again), so a change in the
  // machine's load during the scenario weighs on every tool alike.
  const peerRuns = new Map<Peer["name"], PeerRun[]>(available.map((p) => [p.name, []]));
  const runs: MandrillFanoutRun[] = [];
  for (let i = 1; i <= ctx.runs; i++) {
    for (const p of available) {
      const r = await _timedStep(
        ctx,
        `${scenario} ${p.name} run ${i}/${ctx.runs}`,
        () => p.run(fleet, n),
      );
      peerRuns.get(p.name)!.push(r);
    }
    runs.push(
      await _timedStep(
        ctx,
        `${scenario} mandrill run ${i}/${ctx.runs}`,
        () => mandrillFanoutRun(ctx, fleet, n),
      ),
    );
  }
  out.details[x25519 ? "sshFanoutX25519" : "sshFanout"] = {
    sshOptions,
    hosts,
    concurrency: n,
    mandrill: runs,
    peers: Object.fromEntries(peerRuns),
    versions: Object.fromEntries(peers.map((p) => [p.name, p.version ?? p.missing ?? ""])),
  };
  const what = `\`true\` on ${fmt(hosts)} hosts, ${n} at once`;
  const mine = runs.map((r) => r.hostsPerSec);
  f.add(scenario, {
    metric: `mandrill run, ssh executor: ${what}`,
    unit: "hosts/s",
    runs: mine,
    higherIsBetter: true,
    note: `recovery "none"; first publish → last request done (inbox finished_at)`,
  });
  for (const p of peers) {
    const pr = peerRuns.get(p.name);
    if (!pr) continue;
    f.add(scenario, {
      metric: `${p.name === "xargs" ? "ceiling" : "peer"}: ${p.label.replaceAll(" N", ` ${n}`)}`,
      unit: "hosts/s",
      runs: pr.map((r) => r.hostsPerSec),
      higherIsBetter: true,
      note: "its process, start to exit" + (p.version ? `; ${p.version}` : ""),
    });
  }
  const ratio = (name: Peer["name"], label: string) =>
    f.ratio(
      scenario,
      `ratio to ${label}`,
      mine,
      (peerRuns.get(name) ?? []).map((r) => r.hostsPerSec),
      `each run / median ${label}`,
    );
  f.goal(ratio("xargs", "xargs"), { what: `mandrill ≥ 0.9 × xargs -P${goalSuffix}`, target: 0.9 });
  f.goal(ratio("ansible", "Ansible"), { what: `mandrill ≥ 2 × Ansible${goalSuffix}`, target: 2 });
  ratio("pssh", "pssh");
  f.add(scenario, {
    metric: "mandrill CPU per restart",
    unit: "CPU ms",
    runs: runs.map((r) => r.cpuMsPerRestart),
    note: "utime + stime of the mandrill process (its threads), not of the ssh children",
  });
  f.add(scenario, {
    metric: "the same, less mandrill's idle CPU over as long",
    unit: "CPU ms",
    runs: runs.map((r) => r.busyCpuMsPerRestart),
    note: `idle: ${
      median(runs.map((r) => r.idleCores * 1000)).toFixed(0)
    } CPU ms/s (timers, MQTT keepalive), measured for 2 s before the requests`,
  });
  const xargsRate = median((peerRuns.get("xargs") ?? []).map((r) => r.hostsPerSec));
  f.add(scenario, {
    metric: "mandrill: first publish → first restart started",
    unit: "ms",
    runs: runs.map((r) => r.firstStartMs),
    note: "intake: the burst received, committed and admitted",
  });
  f.add(scenario, {
    metric: "mandrill: mean restart, executor start to end",
    unit: "ms",
    runs: runs.map((r) => r.meanRestartMs),
    note: "the ssh session and its spawning" +
      (xargsRate > 0
        ? `; an xargs session lasts ${n} / its rate: ${(n / xargsRate * 1000).toFixed(0)} ms`
        : ""),
  });
  f.add(scenario, {
    metric: `mandrill: share of the ${n} slots running a restart`,
    unit: "×",
    runs: runs.map((r) => r.slotsBusy),
    higherIsBetter: true,
    note: "sum of the restarts' durations / (slots × first start → last end)",
  });
  const cpu = (metric: string, runs: number[], note: string) =>
    f.add(scenario, { metric, unit: "CPU ms", runs, note });
  cpu(
    "CPU per host: mandrill and its ssh children",
    runs.map((r) => r.cpuMsPerHost),
    "utime + stime, the process and the children it waited for",
  );
  for (const p of available) {
    cpu(
      `CPU per host: ${p.name} and its ssh children`,
      peerRuns.get(p.name)!.map((r) => r.cpuMsPerHost),
      "the children the bench waited for",
    );
  }
  cpu(
    "sshd CPU per session",
    [...runs, ...[...peerRuns.values()].flat()].map((r) => r.sshdCpuMsPerHost),
    "sshd and the sessions it reaped, over every tool's runs",
  );
  return { xargs: peerRuns.get("xargs") ?? [] };
}

/** Runs one measurement with a progress line. */
async function _timedStep<T extends { hostsPerSec: number }>(
  ctx: BenchContext,
  name: string,
  run: () => Promise<T>,
): Promise<T> {
  const t0 = performance.now();
  const r = await run();
  const sec = ((performance.now() - t0) / 1000).toFixed(1);
  ctx.progress(`${name}: ${sec} s, ${r.hostsPerSec.toFixed(1)} hosts/s`);
  return r;
}

/** ssh-recovery: `ctx.runs` runs on one sshd playing hosts that come back after a delay. */
export async function sshRecoveryScenario(
  ctx: BenchContext,
  out: ScenarioSink,
  fanout: FanoutResult | undefined,
): Promise<void> {
  const { sshHosts: hosts, sshConcurrency: n, sshBootDelaySec: delay, sshMaxProbes } = ctx.sizes;
  const { f } = out;
  await using fleet = await SshFleet.start({
    hosts,
    hostScript: hostScript(delay),
    sshOptions: ctx.sshOptions,
  });
  // One restart's ssh session at `n` at once: from the xargs ceiling (measured here if
  // ssh-fanout did not run), since a session takes n / rate seconds at that rate.
  let xargs = fanout?.xargs ?? [];
  if (xargs.length === 0) {
    const peer = (await fanoutPeers()).find((p) => p.name === "xargs")!;
    if (!peer.missing) {
      const fanoutFleet = await SshFleet.start({ hosts, sshOptions: ctx.sshOptions });
      try {
        xargs = [await peer.run(fanoutFleet, n)];
      } finally {
        await fanoutFleet[Symbol.asyncDispose]();
      }
    }
  }
  const runs: RecoveryRun[] = await repeat(ctx, {
    name: "ssh-recovery",
    run: () =>
      recoveryRun(ctx, fleet, {
        concurrency: n,
        maxProbes: sshMaxProbes,
        probeIntervalSec: PROBE_INTERVAL_SEC,
        probeMaxIntervalSec: PROBE_MAX_INTERVAL_SEC,
      }),
    describe: (r) =>
      `${r.seconds.toFixed(1)} s, ${r.recovered} recovered, ${r.failed.length} failed`,
  });
  out.details.sshRecovery = {
    hosts,
    concurrency: n,
    bootDelaySec: delay,
    maxProbes: sshMaxProbes,
    probeIntervalSec: PROBE_INTERVAL_SEC,
    probeMaxIntervalSec: PROBE_MAX_INTERVAL_SEC,
    runs,
  };
  const waves = Math.ceil(hosts / n);
  f.add("ssh-recovery", {
    metric: `mandrill run, recovery "boot": ${fmt(hosts)} hosts, ${n} at once, until all recovered`,
    unit: "s",
    runs: runs.map((r) => r.seconds),
    note: `boot id changes ${delay} s after the restart; maxProbes ${sshMaxProbes}, ` +
      `probes every ${PROBE_INTERVAL_SEC}–${PROBE_MAX_INTERVAL_SEC} s; first publish → last ` +
      "recovered_at",
  });
  if (xargs.length > 0) {
    const sessionSec = n / median(xargs.map((r) => r.hostsPerSec));
    const ideal = waves * (sessionSec + delay);
    f.add("ssh-recovery", {
      metric: `ideal: ${waves} waves × (one ssh session + ${delay} s)`,
      unit: "s",
      runs: [ideal],
      note: `a session ${(sessionSec * 1000).toFixed(0)} ms at ${n} at once (the xargs ceiling)`,
    });
    f.add("ssh-recovery", {
      metric: "ideal / measured",
      unit: "×",
      runs: runs.map((x) => ideal / x.seconds),
      higherIsBetter: true,
      note: "1 = as fast as the waves allow",
    });
    const rate = median(xargs.map((x) => x.hostsPerSec));
    f.add("ssh-recovery", {
      metric: "ssh-bound floor: every session mandrill ran, at the xargs rate",
      unit: "s",
      runs: runs.map((x) => (x.restartsPerHost + x.probesPerHost) * hosts / rate),
      note: "restarts + boot-id probes (counted by the fake hosts) / xargs hosts/s",
    });
  }
  f.add("ssh-recovery", {
    metric: "ssh sessions per host",
    unit: "sessions",
    runs: runs.map((r) => r.restartsPerHost + r.probesPerHost),
    note: `restart + boot-id probes (before and after); median ${
      median(runs.map((r) => r.probesPerHost)).toFixed(1)
    } probes`,
  });
  const failed = runs.map((r) => r.failed.length);
  const timedOut = runs.map((r) => r.timedOut);
  f.goal(
    f.add("ssh-recovery", {
      metric: "failed events (restarts and recoveries)",
      unit: "events",
      runs: failed,
      note: `of which timed out: ${timedOut.join(", ")} per run`,
    }),
    { what: "no restart failed or timed out, in any run", target: 0, worst: true },
  );
  f.add("ssh-recovery", {
    metric: "mandrill CPU per restart",
    unit: "CPU ms",
    runs: runs.map((r) => r.cpuMsPerRestart),
    note: "restart and its probes; the mandrill process, not its ssh children",
  });
  const bad = runs.flatMap((r) => r.failed).slice(0, 5);
  if (bad.length > 0) {
    out.notes.push(
      `ssh-recovery: failed events, e.g. ${bad.map((b) => `${b.id}: ${b.detail}`).join("; ")}.`,
    );
  }
}
