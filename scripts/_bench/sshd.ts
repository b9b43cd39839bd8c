/**
 * The ssh scenarios' OpenSSH sshd, started the way the tests' helper
 * (tests/_helpers/sshd.ts) starts it — a temporary directory holding a host
 * key, one authorized user key and a known_hosts that trusts the host key,
 * key-only logins of the current user from loopback, `SetEnv HOME=dir` so
 * sessions skip the user's shell rc files (root's .bashrc runs a pyenv init
 * that takes a lock and serializes logins) — but answering on many loopback
 * addresses at once (one per bench host) and with PAM judging the account,
 * as Debian's own sshd does: with `UsePAM no`, sshd refuses every key login
 * to an account whose password is locked (`!` in /etc/shadow), which is how
 * root often is.
 * @module
 */
import { freePort } from "../../tests/_helpers/wait.ts";
import { BenchProcess, readChildrenCpuSeconds, readCpuSeconds, waitUntil } from "./proc.ts";

/** Where Debian's sshd lives; it must be started by absolute path. */
export const SSHD_PATH = "/usr/sbin/sshd";

/** Options of {@linkcode startBenchSshd}. */
export interface BenchSshdOptions {
  /** Loopback addresses to answer on, each trusted in the known_hosts file. Required. */
  addresses: string[];
  /** Runs this program for every session of the authorized key (`command="..."`). Default: none. */
  forcedCommand?: string;
  /** Unauthenticated connections at once before sshd starts dropping them. Default: 1000. */
  maxStartups?: number;
}

/** A running bench sshd; dispose it to stop it and remove its files. */
export interface BenchSshd extends AsyncDisposable {
  /** Temporary directory holding all of its files. */
  readonly dir: string;
  readonly port: number;
  /** The only user allowed to log in (the current user). */
  readonly user: string;
  /** Private key authorized to log in. */
  readonly identityFile: string;
  /** known_hosts trusting this sshd's host key on `[address]:port` for every address. */
  readonly knownHostsFile: string;
  /** Tail of sshd's log (stderr), for failure messages. */
  log(): string;
  /** CPU seconds of sshd and of the sessions it served (and reaped) so far. */
  cpuSeconds(): number;
}

/** Starts sshd on 0.0.0.0 and an ephemeral port and waits until it accepts connections. */
export async function startBenchSshd(o: BenchSshdOptions): Promise<BenchSshd> {
  try {
    await Deno.stat(SSHD_PATH);
  } catch (cause) {
    throw new Error(
      `Cannot start the bench sshd: ${SSHD_PATH} not found. Install OpenSSH server ` +
        "(Debian: apt-get install openssh-server openssh-client).",
      { cause },
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "mandrill-bench-sshd-" });
  let proc: BenchProcess | undefined;
  const stop = async () => {
    if (proc) {
      proc.kill("SIGTERM");
      await proc.exited();
    }
    await Deno.remove(dir, { recursive: true });
  };
  try {
    const user = (await _output("id", ["-un"])).trim();
    const hostKey = `${dir}/host_ed25519`;
    const identityFile = `${dir}/user_ed25519`;
    await _keygen(hostKey);
    await _keygen(identityFile);
    const forced = o.forcedCommand ? `command="${o.forcedCommand}" ` : "";
    await Deno.writeTextFile(
      `${dir}/authorized_keys`,
      forced + await Deno.readTextFile(`${identityFile}.pub`),
    );
    // Privilege separation directory sshd insists on when started as root.
    if (Deno.uid() === 0) await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/sshd_config`,
      [
        // sshd listens on at most 16 sockets: one wildcard socket, loopback clients only.
        `ListenAddress 0.0.0.0:${port}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        `PidFile ${dir}/sshd.pid`,
        "UsePAM yes",
        "StrictModes no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        `AllowUsers ${user}@127.*`,
        `SetEnv HOME=${dir}`,
        // The default 10:30:100 drops unauthenticated connections past 10 at once.
        `MaxStartups ${o.maxStartups ?? 1000}`,
        "LogLevel INFO",
        "",
      ].join("\n"),
    );
    const [keyType, keyData] = (await Deno.readTextFile(`${hostKey}.pub`)).trim().split(/\s+/);
    const knownHostsFile = `${dir}/known_hosts`;
    await Deno.writeTextFile(
      knownHostsFile,
      o.addresses.map((a) => `[${a}]:${port} ${keyType} ${keyData}\n`).join(""),
    );
    const sshd = BenchProcess.spawn(SSHD_PATH, ["-D", "-e", "-f", `${dir}/sshd_config`]);
    proc = sshd;
    await waitUntil(async () => {
      if (sshd.status) throw new Error(`sshd exited (${sshd.status.code})${sshd.tail()}`);
      return await _accepts(port);
    }, { timeoutMs: 10_000, intervalMs: 25, what: `sshd on port ${port}` });
    return {
      dir,
      port,
      user,
      identityFile,
      knownHostsFile,
      log: () => sshd.tail(),
      cpuSeconds: () => readCpuSeconds(sshd.pid) + readChildrenCpuSeconds(sshd.pid),
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function _accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function _keygen(path: string): Promise<void> {
  await _output("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "mandrill-bench",
    "-f",
    path,
  ]);
}

async function _output(program: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(program, { args, stdin: "null", stderr: "piped" }).output();
  const text = new TextDecoder();
  if (!r.success) throw new Error(`${program} ${args.join(" ")} failed: ${text.decode(r.stderr)}`);
  return text.decode(r.stdout);
}
