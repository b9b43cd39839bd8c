/**
 * A real OpenSSH sshd on 127.0.0.1 and an ephemeral port, for integration tests.
 *
 * Everything lives in a temporary directory: host key, an authorized user key,
 * sshd_config, pid file and a known_hosts file that trusts the host key. The
 * daemon accepts only the current user with that key.
 *
 * @example
 * ```ts
 * await using sshd = await startSshd();
 * const ssh = new SshExecutor({ user: sshd.user, port: sshd.port, identityFile: sshd.identityFile,
 *   knownHostsFile: sshd.knownHostsFile, command: ["true"] });
 * ```
 * @module
 */
import { drainInto, TailBuffer } from "../../src/executors/_tail.ts";

/** Where Debian's sshd lives; it must be started by absolute path. */
export const SSHD_PATH = "/usr/sbin/sshd";

/** Options of {@linkcode startSshd}. */
export interface SshdOptions {
  /** The sshd program. Default: `/usr/sbin/sshd`. */
  sshdPath?: string;
  /** How long to wait for sshd to accept connections. Default: 10000 ms. */
  startTimeoutMs?: number;
  /**
   * Loopback addresses to answer on besides 127.0.0.1 (e.g. one per test host,
   * so a forced command tells them apart by `SSH_CONNECTION`), all trusted in
   * the known_hosts file. sshd listens on at most 16 sockets, so with these it
   * listens on 0.0.0.0 and lets only loopback clients log in. Default: none.
   */
  extraAddresses?: string[];
  /** Runs this program for every session of the authorized key (`command="..."`). Default: none. */
  forcedCommand?: string;
  /** More sshd_config lines (e.g. `MaxStartups 500`). Default: none. */
  extraConfig?: string[];
}

/** A running test sshd; dispose it to stop it and remove its files. */
export interface TestSshd extends AsyncDisposable {
  /** Temporary directory holding all of its files. */
  readonly dir: string;
  /** Port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** sshd's process id (its sessions are its children), e.g. to read its CPU time. */
  readonly pid: number;
  /** The only user allowed to log in (the current user). */
  readonly user: string;
  /** Private key authorized to log in. */
  readonly identityFile: string;
  /** known_hosts file that trusts this sshd's host key on `[127.0.0.1]:port`. */
  readonly knownHostsFile: string;
  /** Generates a fresh key pair that is NOT authorized; returns the private key path. */
  newKey(name: string): Promise<string>;
  /** Tail of sshd's log (stderr), for failure messages. */
  log(): string;
}

export { freePort } from "./wait.ts";
import { freePort } from "./wait.ts";

/**
 * Starts sshd and waits until it accepts connections. Throws (never skips) when
 * sshd is not installed, so a CI without it fails loudly.
 */
export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  const sshdPath = options.sshdPath ?? SSHD_PATH;
  try {
    await Deno.stat(sshdPath);
  } catch (cause) {
    throw new Error(
      `Cannot start the test sshd: ${sshdPath} not found. Install OpenSSH server ` +
        `(Debian: apt-get install openssh-server openssh-client).`,
      { cause },
    );
  }
  // A port free a moment ago may be taken by another test before sshd binds
  // it (--parallel): sshd then exits, and another port is tried.
  for (let attempt = 1;; attempt++) {
    const dir = await Deno.makeTempDir({ prefix: "mandrill-sshd-" });
    try {
      return await launch(dir, sshdPath, options.startTimeoutMs ?? 10_000, options);
    } catch (error) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      if (attempt < 5 && /Address already in use/.test(String(error))) continue;
      throw error;
    }
  }
}

async function launch(
  dir: string,
  sshdPath: string,
  startTimeoutMs: number,
  options: SshdOptions,
): Promise<TestSshd> {
  const user = (await output("id", ["-un"])).trim();
  const hostKey = `${dir}/host_ed25519`;
  const identityFile = `${dir}/user_ed25519`;
  await keygen(hostKey);
  await keygen(identityFile);
  const forced = options.forcedCommand ? `command="${options.forcedCommand}" ` : "";
  await Deno.writeTextFile(
    `${dir}/authorized_keys`,
    forced + await Deno.readTextFile(`${identityFile}.pub`),
  );
  // Privilege separation directory sshd insists on when started as root.
  if (Deno.uid() === 0) await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });

  const port = freePort();
  const addresses = ["127.0.0.1", ...(options.extraAddresses ?? [])];
  const loopbackOnly = addresses.length > 1;
  const config = [
    `ListenAddress ${loopbackOnly ? "0.0.0.0" : "127.0.0.1"}:${port}`,
    `HostKey ${hostKey}`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    `PidFile ${dir}/sshd.pid`,
    // PAM, not sshd, judges the account: with UsePAM no, sshd refuses key
    // logins to an account whose password is locked ("!" in /etc/shadow).
    "UsePAM yes",
    "StrictModes no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    `AllowUsers ${loopbackOnly ? `${user}@127.*` : user}`,
    "LogLevel VERBOSE",
    // Sessions do not run the test user's shell rc files (a pyenv init in
    // root's .bashrc serialised concurrent sessions on its lock for seconds).
    `SetEnv HOME=${dir}`,
    ...(options.extraConfig ?? []),
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/sshd_config`, config);
  const [keyType, keyData] = (await Deno.readTextFile(`${hostKey}.pub`)).trim().split(/\s+/);
  const knownHostsFile = `${dir}/known_hosts`;
  await Deno.writeTextFile(
    knownHostsFile,
    addresses.map((a) => `[${a}]:${port} ${keyType} ${keyData}\n`).join(""),
  );

  const child = new Deno.Command(sshdPath, {
    args: ["-D", "-e", "-f", `${dir}/sshd_config`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new TailBuffer(16 * 1024);
  const drain = drainInto(child.stderr, log);
  let exited = false;
  const status = child.status.finally(() => exited = true);

  const stop = async () => {
    const errors: unknown[] = [];
    // Sessions sshd forked (remote commands still running) go first, then sshd.
    for (const pid of await descendants(child.pid)) kill(pid, "SIGKILL");
    kill(child.pid, "SIGTERM");
    await status;
    await drain.done;
    await Deno.remove(dir, { recursive: true }).catch((e) => errors.push(e));
    if (errors.length > 0) throw new AggregateError(errors, "Cannot clean up the test sshd");
  };

  const deadline = Date.now() + startTimeoutMs;
  while (!(await accepts(port))) {
    if (exited || Date.now() > deadline) {
      if (!exited) await stop();
      else await drain.done;
      throw new Error(
        `Cannot start the test sshd on 127.0.0.1:${port} ` +
          `(${exited ? "it exited" : `not listening after ${startTimeoutMs} ms`}): ${log.text()}`,
      );
    }
    await pause(25);
  }

  return {
    dir,
    port,
    pid: child.pid,
    user,
    identityFile,
    knownHostsFile,
    newKey: async (name) => {
      const path = `${dir}/${name}`;
      await keygen(path);
      return path;
    },
    log: () => log.text(),
    [Symbol.asyncDispose]: stop,
  };
}

/** True once something accepts TCP connections on 127.0.0.1:`port`. */
async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Poll interval between readiness checks (the wait itself is bounded by a deadline). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function keygen(path: string): Promise<void> {
  await output("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "mandrill-test", "-f", path]);
}

async function output(program: string, args: string[]): Promise<string> {
  const result = await new Deno.Command(program, { args, stdin: "null" }).output();
  const text = new TextDecoder();
  if (!result.success) {
    throw new Error(`${program} ${args.join(" ")} failed: ${text.decode(result.stderr)}`);
  }
  return text.decode(result.stdout);
}

/** Pids of every live descendant of `root`, from /proc. */
async function descendants(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    // Fields after the parenthesised command name: state, ppid, ...
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(fields[1]);
    if (!Number.isInteger(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry.name));
    children.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const pid of children.get(queue.shift()!) ?? []) {
      found.push(pid);
      queue.push(pid);
    }
  }
  return found;
}

function kill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
