// deno-lint-ignore-file no-console
/**
 * The test suite's preflight (`deno task test` runs it first): the programs
 * the tests start for real — Mosquitto, OpenSSH's sshd and client, util-linux
 * (setsid, runuser), OpenSSL, Chromium, PostgreSQL — are installed with
 * apt-get when missing (as root, or with passwordless sudo). Where that
 * cannot be done it stops before any test runs, with one line naming the
 * exact command to run.
 *
 * `--check` only looks (exit 1 when something is missing). Programs are
 * looked up on `MANDRILL_PREFLIGHT_PATH` if set (tests), else on `PATH` plus
 * the sbin directories.
 * @module
 */
import $ from "dax";

/** A program the tests need, and the Debian package that has it. */
export interface Need {
  program: string;
  pkg: string;
  /** Directories other than the search path where it lives (PostgreSQL's versioned bin). */
  globDirs?: string[];
}

/** What the test suite starts for real. */
export const NEEDS: readonly Need[] = [
  { program: "mosquitto", pkg: "mosquitto" },
  { program: "mosquitto_passwd", pkg: "mosquitto" },
  { program: "sshd", pkg: "openssh-server" },
  { program: "ssh", pkg: "openssh-client" },
  { program: "ssh-keygen", pkg: "openssh-client" },
  { program: "setsid", pkg: "util-linux" },
  { program: "runuser", pkg: "util-linux" },
  { program: "openssl", pkg: "openssl" },
  { program: "chromium", pkg: "chromium" },
  { program: "pg_ctl", pkg: "postgresql", globDirs: ["/usr/lib/postgresql"] },
  { program: "initdb", pkg: "postgresql", globDirs: ["/usr/lib/postgresql"] },
];

function _isExecutable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Whether `need` is found on `searchPath` (or in its versioned directories). */
export function isPresent(need: Need, searchPath: string): boolean {
  const dirs = searchPath.split(":").filter((d) => d !== "");
  if (dirs.some((d) => _isExecutable(`${d}/${need.program}`))) return true;
  for (const root of need.globDirs ?? []) {
    try {
      for (const entry of Deno.readDirSync(root)) {
        if (_isExecutable(`${root}/${entry.name}/bin/${need.program}`)) return true;
      }
    } catch { /* not there */ }
  }
  return false;
}

/** The packages to install for what `searchPath` lacks, in `NEEDS` order, once each. */
export function missingPackages(searchPath: string, needs: readonly Need[] = NEEDS): string[] {
  return [...new Set(needs.filter((n) => !isPresent(n, searchPath)).map((n) => n.pkg))];
}

/** How to install `pkgs`: directly as root, with sudo if it works without a password, or not at all. */
async function _installer(): Promise<"root" | "sudo" | undefined> {
  if (!isPresent({ program: "apt-get", pkg: "apt" }, "/usr/bin:/bin:/usr/sbin:/sbin")) {
    return undefined;
  }
  if (Deno.uid() === 0) return "root";
  const sudo = await $`sudo -n true`.noThrow().quiet();
  return sudo.code === 0 ? "sudo" : undefined;
}

async function main(args: string[]): Promise<number> {
  const checkOnly = args.includes("--check");
  const searchPath = Deno.env.get("MANDRILL_PREFLIGHT_PATH") ??
    `${Deno.env.get("PATH") ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;
  const pkgs = missingPackages(searchPath);
  if (pkgs.length === 0) return 0;
  const command = `apt-get install -y ${pkgs.join(" ")}`;
  const how = checkOnly ? undefined : await _installer();
  if (how === undefined) {
    console.error(
      `preflight: the tests need ${pkgs.join(", ")} (missing); install with: ${
        Deno.uid() === 0 ? "" : "sudo "
      }${command}`,
    );
    return 1;
  }
  console.error(`preflight: installing ${pkgs.join(" ")} with apt-get`);
  const sudo = how === "sudo" ? ["sudo", "-n"] : [];
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const update = await $`${sudo} apt-get update -qq`.env(env).noThrow();
  const install = update.code === 0
    ? await $`${sudo} apt-get install -y -qq --no-install-recommends ${pkgs}`.env(env).noThrow()
    : update;
  const still = missingPackages(searchPath);
  if (install.code !== 0 || still.length > 0) {
    console.error(
      `preflight: apt-get could not install ${
        (still.length > 0 ? still : pkgs).join(", ")
      }; install with: ${sudo.length > 0 ? "sudo " : ""}apt-get install -y ${
        (still.length > 0 ? still : pkgs).join(" ")
      }`,
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
