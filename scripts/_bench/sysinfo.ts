/**
 * The machine a bench ran on: cores, memory, OS, CPU, Deno, Mosquitto, the
 * load average at start (other work on the machine makes figures noisy) and
 * which code was measured.
 * @module
 */
import { ROOT } from "./proc.ts";

/** Machine information written into bench/results.json. */
export interface MachineInfo {
  date: string;
  cores: number;
  cpuModel: string;
  memoryTotalMiB: number;
  os: string;
  kernel: string;
  arch: string;
  deno: string;
  v8: string;
  typescript: string;
  mosquitto: string;
  /** `ssh -V`, for the ssh scenarios. */
  openssh: string;
  loadAverage: number[];
  /** The code measured: HEAD and whether main.ts or src/ had uncommitted changes. */
  git: GitState;
}

/** Which code a bench measured. */
export interface GitState {
  commit: string;
  /** Files under src/ or main.ts that differ from HEAD (uncommitted edits were measured too). */
  dirty: string[];
}

/** HEAD and the uncommitted changes to main.ts and src/. */
export async function gitState(): Promise<GitState> {
  const run = async (args: string[]) => {
    const o = await new Deno.Command("git", { args, cwd: ROOT, stderr: "null" }).output()
      .catch(() => null);
    return o?.success ? new TextDecoder().decode(o.stdout).trim() : "";
  };
  const commit = await run(["rev-parse", "--short", "HEAD"]);
  // --no-optional-locks: never take index.lock, which others' commits need.
  const status = await run([
    "--no-optional-locks",
    "status",
    "--porcelain",
    "--",
    "main.ts",
    "src",
  ]);
  return {
    commit: commit || "unknown",
    dirty: status.split("\n").filter(Boolean).map((l) => l.slice(3)),
  };
}

/**
 * SHA-256 of main.ts and every file under src/, to notice when the code
 * changes during a bench (several people edit this tree at once).
 */
export async function codeFingerprint(root: string): Promise<string> {
  const files: string[] = [`${root}main.ts`];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(`${dir}/${e.name}`);
      else if (e.isFile) files.push(`${dir}/${e.name}`);
    }
  };
  await walk(`${root}src`);
  files.sort();
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(new TextEncoder().encode(`${f}\0`));
    parts.push(await Deno.readFile(f).catch(() => new Uint8Array()));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Collects {@linkcode MachineInfo}. */
export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const osRelease = await Deno.readTextFile("/etc/os-release").catch(() => "");
  const mosquitto = await new Deno.Command("/usr/sbin/mosquitto", { args: ["-h"] }).output()
    .then((o) => new TextDecoder().decode(o.stdout).split("\n")[0]?.trim() ?? "")
    .catch(() => "unknown");
  const openssh = await new Deno.Command("ssh", { args: ["-V"] }).output()
    .then((o) => new TextDecoder().decode(o.stderr).split("\n")[0]?.trim() ?? "")
    .catch(() => "unknown");
  return {
    date: new Date().toISOString(),
    cores: navigator.hardwareConcurrency,
    cpuModel: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown",
    memoryTotalMiB: Math.round(Deno.systemMemoryInfo().total / (1024 * 1024)),
    os: osRelease.match(/^PRETTY_NAME="?([^"\n]+)"?$/m)?.[1] ?? Deno.build.os,
    kernel: Deno.osRelease(),
    arch: Deno.build.arch,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    mosquitto,
    openssh,
    loadAverage: Deno.loadavg(),
    git: await gitState(),
  };
}
