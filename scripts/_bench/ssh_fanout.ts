/**
 * ssh-fanout: the remote command `true` on every host of an {@linkcode SshFleet}
 * (200 loopback addresses of one sshd), 20 at once, by `mandrill run` (ssh
 * executor, `recovery: "none"`) and by its ceiling and peers in the same run:
 * `xargs -P 20` running mandrill's exact ssh argv, Ansible (`ansible -m raw
 * -f 20`, no ControlMaster) and `parallel-ssh -p 20`. A peer that is not
 * installed is skipped, with the reason.
 *
 * mandrill is timed from the publisher's first send to the last request done
 * (inbox `finished_at`), after its start; each peer is timed as its process
 * runs, start-up included, since that is what running it costs.
 * @module
 */
import type { BenchContext } from "./context.ts";
import { findProgram, readChildrenCpuSeconds } from "./proc.ts";
import type { SshFleet } from "./ssh_fleet.ts";
import { runOnFleet } from "./ssh_run.ts";

/** The remote command of the fanout. */
export const FANOUT_COMMAND = ["true"];

/** One mandrill fanout run. */
export interface MandrillFanoutRun {
  hostsPerSec: number;
  seconds: number;
  /** mandrill's own CPU (its process, threads included, children not) per restart, ms. */
  cpuMsPerRestart: number;
  /** The same less what mandrill spends idle (timers, MQTT keepalive) over as long, ms. */
  busyCpuMsPerRestart: number;
  /** mandrill's CPU at idle, before the requests, cores. */
  idleCores: number;
  /** mandrill's CPU and that of its ssh children, per host, ms. */
  cpuMsPerHost: number;
  /** sshd's CPU (the sessions it served) per host, ms. */
  sshdCpuMsPerHost: number;
  /** First publish → first restart started, ms. */
  firstStartMs: number;
  /** Mean restart, executor start to end (the ssh session and its spawning), ms. */
  meanRestartMs: number;
  /** Share of the `concurrency` slots running a restart, first start → last end. */
  slotsBusy: number;
}

/** One run of a peer (xargs, Ansible, pssh). */
export interface PeerRun {
  hostsPerSec: number;
  seconds: number;
  /** The tool's CPU and that of its ssh children, per host, ms. */
  cpuMsPerHost: number;
  /** sshd's CPU (the sessions it served) per host, ms. */
  sshdCpuMsPerHost: number;
}

/** A peer tool: how to run it over the fleet, or why it cannot be. */
export interface Peer {
  name: "xargs" | "ansible" | "pssh";
  /** What it runs, for the table. */
  label: string;
  /** Why it is skipped (not installed), or undefined. */
  missing?: string;
  /** Its version line, where it prints one. */
  version?: string;
  run: (fleet: SshFleet, concurrency: number) => Promise<PeerRun>;
}

/** The remote command `true` on every host through `mandrill run`, `concurrency` at once. */
export async function mandrillFanoutRun(
  ctx: BenchContext,
  fleet: SshFleet,
  concurrency: number,
): Promise<MandrillFanoutRun> {
  const count = fleet.names.length;
  return await runOnFleet(ctx, fleet, {
    scenario: "ssh-fanout",
    command: FANOUT_COMMAND,
    recovery: "none",
    concurrency,
    idPrefix: "s-",
  }, async ({ m, send }) => {
    const idleCores = await m.idleCores();
    const cpu0 = m.cpuSeconds();
    const children0 = m.childrenCpuSeconds();
    const sshd0 = fleet.sshdCpuSeconds();
    const p = await send();
    await m.waitDone("s-", count, 300_000);
    const cpu = m.cpuSeconds() - cpu0;
    const children = m.childrenCpuSeconds() - children0;
    const sshd = fleet.sshdCpuSeconds() - sshd0;
    const span = m.span("s-");
    const outcomes = m.outcomes("s-");
    if (outcomes.succeeded !== count) {
      throw new Error(
        `ssh-fanout: expected ${count} succeeded, got ${JSON.stringify(outcomes)}${fleet.log()}`,
      );
    }
    const seconds = (span.lastFinishedAt - p.firstSendAt) / 1000;
    const restarts = m.restarts("s-");
    return {
      firstStartMs: restarts.firstStartedAt - p.firstSendAt,
      meanRestartMs: restarts.totalMs / count,
      slotsBusy: restarts.totalMs /
        (concurrency * (restarts.lastFinishedAt - restarts.firstStartedAt)),
      hostsPerSec: count / seconds,
      seconds,
      cpuMsPerRestart: (cpu / count) * 1000,
      busyCpuMsPerRestart: ((cpu - idleCores * seconds) / count) * 1000,
      idleCores,
      cpuMsPerHost: ((cpu + children) / count) * 1000,
      sshdCpuMsPerHost: (sshd / count) * 1000,
    };
  });
}

/** The peers, each with the reason it is skipped when it is not installed. */
export async function fanoutPeers(): Promise<Peer[]> {
  const xargs = findProgram("xargs");
  const ansible = findProgram("ansible");
  const pssh = findProgram("parallel-ssh") ?? findProgram("pssh");
  return [
    {
      name: "xargs",
      label: "xargs -P N ssh (mandrill's ssh argv)",
      ...(xargs ? {} : { missing: "xargs not on PATH" }),
      run: (fleet, n) => _xargs(xargs!, fleet, n),
    },
    {
      name: "ansible",
      label: "ansible -f N -m raw -a true",
      ...(ansible
        ? { version: await _version(ansible, ["--version"]) }
        : { missing: "ansible not on PATH (Debian: apt-get install ansible-core)" }),
      run: (fleet, n) => _ansible(ansible!, fleet, n),
    },
    {
      name: "pssh",
      label: "parallel-ssh -p N",
      ...(pssh
        ? { version: `parallel-ssh ${await _version(pssh, ["--version"])}` }
        : { missing: "parallel-ssh (pssh) not on PATH (Debian: apt-get install pssh)" }),
      run: (fleet, n) => _pssh(pssh!, fleet, n),
    },
  ];
}

/** The ceiling: `xargs -P N` running the very argv mandrill's ssh executor builds, per host. */
async function _xargs(xargs: string, fleet: SshFleet, n: number): Promise<PeerRun> {
  const hostsFile = `${fleet.dir}/xargs-hosts`;
  await Deno.writeTextFile(hostsFile, fleet.addresses.join("\n") + "\n");
  return await _timed("xargs", fleet, xargs, {
    args: [
      "-P",
      String(n),
      "-a",
      hostsFile,
      "-I{}",
      ...fleet.sshArgvPrefix(FANOUT_COMMAND),
      "{}",
      fleet.remoteCommand(FANOUT_COMMAND),
    ],
    hosts: fleet.names.length,
  });
}

/**
 * `ansible all -m raw -a true -f N` over an inventory of the fleet's hosts;
 * no ControlMaster (one connection per host, as the others), host keys
 * checked against the sshd's known_hosts, no fact gathering.
 */
async function _ansible(ansible: string, fleet: SshFleet, n: number): Promise<PeerRun> {
  const home = await Deno.makeTempDir({ dir: fleet.dir, prefix: "ansible-" });
  const r = await _timed("ansible", fleet, ansible, {
    args: ["all", "-i", fleet.inventoryFile, "-f", String(n), "-m", "raw", "-a", "true"],
    cwd: home,
    env: {
      ANSIBLE_SSH_ARGS: [
        "-o ControlMaster=no",
        "-o ControlPersist=no",
        "-o BatchMode=yes",
        "-o StrictHostKeyChecking=yes",
        `-o UserKnownHostsFile=${fleet.sshd.knownHostsFile}`,
        "-o IdentitiesOnly=yes",
        ...fleet.sshOptions.map((o) => `-o ${o}`),
      ].join(" "),
      ANSIBLE_HOST_KEY_CHECKING: "True",
      ANSIBLE_PRIVATE_KEY_FILE: fleet.sshd.identityFile,
      ANSIBLE_REMOTE_USER: fleet.sshd.user,
      ANSIBLE_GATHERING: "explicit",
      ANSIBLE_HOME: home,
      ANSIBLE_LOCAL_TEMP: `${home}/tmp`,
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_RETRY_FILES_ENABLED: "False",
    },
    hosts: fleet.names.length,
    // One result line per host: "h-0 | CHANGED | rc=0 >>".
    check: (stdout) => stdout.split("\n").filter((l) => / \| CHANGED \| rc=0/.test(l)).length,
  });
  return r;
}

/** `parallel-ssh -p N` with mandrill's ssh options, one `address:port` line per host. */
async function _pssh(pssh: string, fleet: SshFleet, n: number): Promise<PeerRun> {
  // mandrill's options without the program, port, user and "--": pssh sets those itself.
  const prefix = fleet.sshArgvPrefix(FANOUT_COMMAND).slice(1, -1);
  const at = prefix.indexOf("-p");
  const options = [...prefix.slice(0, at), ...prefix.slice(at + 4)];
  return await _timed("pssh", fleet, pssh, {
    args: [
      "-p",
      String(n),
      "-h",
      fleet.psshHostsFile,
      "-l",
      fleet.sshd.user,
      "-t",
      "60",
      ...options.flatMap((o) => ["-X", o]),
      ...FANOUT_COMMAND,
    ],
    hosts: fleet.names.length,
    // "[1] 12:00:00 [SUCCESS] 127.0.1.1:4022"
    check: (stdout) => stdout.split("\n").filter((l) => /\[SUCCESS\]/.test(l)).length,
  });
}

/**
 * Runs a peer to the end; it must exit 0 and, with `check`, report every host
 * done. Its CPU is what this process's waited-for children gained meanwhile.
 */
async function _timed(
  name: string,
  fleet: SshFleet,
  program: string,
  o: {
    args: string[];
    hosts: number;
    cwd?: string;
    env?: Record<string, string>;
    check?: (stdout: string) => number;
  },
): Promise<PeerRun> {
  const cpu0 = readChildrenCpuSeconds("self");
  const sshd0 = fleet.sshdCpuSeconds();
  const t0 = performance.now();
  const out = await new Deno.Command(program, {
    args: o.args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.env ? { env: o.env } : {}),
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = readChildrenCpuSeconds("self") - cpu0;
  const sshd = fleet.sshdCpuSeconds() - sshd0;
  const text = new TextDecoder();
  const stdout = text.decode(out.stdout);
  const done = o.check ? o.check(stdout) : o.hosts;
  if (!out.success || done !== o.hosts) {
    const tail = (text.decode(out.stderr) + stdout).trim().split("\n").slice(-10).join("\n  ");
    throw new Error(
      `${name} exited with ${out.code}, ${done} of ${o.hosts} hosts done:\n  ${tail}`,
    );
  }
  return {
    hostsPerSec: o.hosts / seconds,
    seconds,
    cpuMsPerHost: (cpu / o.hosts) * 1000,
    sshdCpuMsPerHost: (sshd / o.hosts) * 1000,
  };
}

async function _version(program: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "null" }).output()
    .catch(() => undefined);
  return out ? new TextDecoder().decode(out.stdout).split("\n")[0]!.trim() : "unknown";
}
