/**
 * The fleet of the ssh scenarios: one real OpenSSH sshd (the tests' helper,
 * tests/_helpers/sshd.ts: key-only, its own temporary directory, an ephemeral
 * port, `SetEnv HOME` so sessions skip the user's shell rc files, PAM judging
 * the account) answering on one loopback address per bench host — `h-0` on
 * 127.0.1.1, `h-1` on 127.0.1.2, ... — so a forced command can tell the hosts
 * apart by `SSH_CONNECTION`. Alongside it, what each client needs: mandrill's
 * `ssh` executor and host entries, the exact ssh argv mandrill runs (for the
 * xargs ceiling), a pssh hosts file and an Ansible inventory.
 * @module
 */
import type { ConfigInput } from "../../src/config/mod.ts";
import { buildSshArgv } from "../../src/executors/ssh.ts";
import { startSshd, type TestSshd } from "../../tests/_helpers/sshd.ts";
import { readChildrenCpuSeconds, readCpuSeconds } from "./proc.ts";

/** Options of {@linkcode SshFleet.start}. */
export interface SshFleetOptions {
  /** Hosts, `h-0` ... `h-{hosts-1}`, at most 64,516. Required. */
  hosts: number;
  /**
   * A POSIX sh script that plays every host: sshd runs it for every session
   * instead of the remote command (which it finds in `SSH_ORIGINAL_COMMAND`).
   * Called with a directory it may keep its state in. Default: none, sessions
   * run their remote command.
   */
  hostScript?: (stateDir: string) => string;
  /** Extra `Key=Value` options every ssh client gets (mandrill's `options`, `-o`). Default: none. */
  sshOptions?: readonly string[];
}

/** One sshd playing `hosts` hosts; dispose it to stop sshd and remove every file. */
export class SshFleet implements AsyncDisposable {
  readonly sshd: TestSshd;
  /** Temporary directory of the host script, its state and the peers' files. */
  readonly dir: string;
  /** Where the host script keeps its state. */
  readonly stateDir: string;
  /** Host names, `h-0` ... */
  readonly names: string[];
  /** The loopback address of each host, in the order of `names`. */
  readonly addresses: string[];
  /** pssh hosts file: `address:port`, one line per host. */
  readonly psshHostsFile: string;
  /** Ansible INI inventory: one alias per host name, with `ansible_host` and `ansible_port`. */
  readonly inventoryFile: string;
  /** Extra `Key=Value` options every ssh client gets. */
  readonly sshOptions: readonly string[];

  private constructor(
    sshd: TestSshd,
    dir: string,
    names: string[],
    addresses: string[],
    sshOptions: readonly string[],
  ) {
    this.sshOptions = sshOptions;
    this.sshd = sshd;
    this.dir = dir;
    this.stateDir = `${dir}/state`;
    this.names = names;
    this.addresses = addresses;
    this.psshHostsFile = `${dir}/pssh-hosts`;
    this.inventoryFile = `${dir}/inventory.ini`;
  }

  /** Starts sshd on the hosts' addresses and writes the peers' files. */
  static async start(o: SshFleetOptions): Promise<SshFleet> {
    if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 254 * 254) {
      throw new RangeError(`SshFleet hosts must be an integer in 1-64516, got ${o.hosts}`);
    }
    const dir = await Deno.makeTempDir({ prefix: "mandrill-bench-ssh-" });
    try {
      await Deno.mkdir(`${dir}/state`);
      let forcedCommand: string | undefined;
      if (o.hostScript) {
        forcedCommand = `${dir}/host.sh`;
        await Deno.writeTextFile(forcedCommand, o.hostScript(`${dir}/state`), { mode: 0o755 });
      }
      const names = Array.from({ length: o.hosts }, (_, i) => `h-${i}`);
      const addresses = names.map((_, i) => `127.0.${1 + Math.floor(i / 254)}.${1 + (i % 254)}`);
      const sshd = await startSshd({
        extraAddresses: addresses,
        ...(forcedCommand ? { forcedCommand } : {}),
        // The default 10:30:100 drops unauthenticated connections past 10 at once.
        extraConfig: [`MaxStartups ${o.hosts + 50}`],
      });
      const fleet = new SshFleet(sshd, dir, names, addresses, [...(o.sshOptions ?? [])]);
      await Deno.writeTextFile(
        fleet.psshHostsFile,
        addresses.map((a) => `${a}:${sshd.port}\n`).join(""),
      );
      await Deno.writeTextFile(
        fleet.inventoryFile,
        "[bench]\n" +
          names.map((n, i) => `${n} ansible_host=${addresses[i]} ansible_port=${sshd.port}\n`)
            .join(""),
      );
      return fleet;
    } catch (err) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  /** The port sshd listens on. */
  get port(): number {
    return this.sshd.port;
  }

  /** CPU seconds of sshd and of the sessions it served (and reaped) so far. */
  sshdCpuSeconds(): number {
    return readCpuSeconds(this.sshd.pid) + readChildrenCpuSeconds(this.sshd.pid);
  }

  /** mandrill's `ssh` executor for this sshd, with `overrides` on top (command, recovery, ...). */
  executor(
    overrides: Partial<Extract<NonNullable<ConfigInput["executors"]>[string], { type: "ssh" }>>,
  ): NonNullable<ConfigInput["executors"]>[string] {
    return { type: "ssh", ...this.#client(), ...overrides };
  }

  /** Host entries `h-i` → executor `executor`, address 127.0.x.y. */
  hostEntries(executor: string): NonNullable<ConfigInput["hosts"]> {
    return Object.fromEntries(
      this.names.map((n, i) => [n, { executor, address: this.addresses[i]! }]),
    );
  }

  /**
   * The argv mandrill's ssh executor runs (program first, defaults of the
   * executor config) up to and including `--`; the address and the quoted
   * remote command follow.
   */
  sshArgvPrefix(command: string[]): string[] {
    const argv = buildSshArgv(
      { id: "argv", host: "h-0", address: this.addresses[0]! },
      { ...this.#client(), command },
    );
    return argv.slice(0, -2);
  }

  /** How an ssh client reaches this sshd: user, port, key, known_hosts, the extra options. */
  #client() {
    return {
      user: this.sshd.user,
      port: this.sshd.port,
      identityFile: this.sshd.identityFile,
      knownHostsFile: this.sshd.knownHostsFile,
      options: [...this.sshOptions],
    };
  }

  /** The remote command as mandrill sends it (each word quoted for the remote shell). */
  remoteCommand(command: string[]): string {
    const argv = buildSshArgv({ id: "argv", host: "h-0" }, { user: "x", command });
    return argv.at(-1)!;
  }

  /** sshd's log tail, for errors. */
  log(): string {
    return this.sshd.log();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const errors: unknown[] = [];
    try {
      await this.sshd[Symbol.asyncDispose]();
    } catch (e) {
      errors.push(e);
    }
    await Deno.remove(this.dir, { recursive: true }).catch((e) => errors.push(e));
    if (errors.length > 0) throw new AggregateError(errors, "Cannot clean up the bench sshd");
  }
}
