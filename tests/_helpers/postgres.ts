/**
 * A real PostgreSQL server from Debian's `postgresql` package for tests:
 * `initdb` and `pg_ctl` in a temporary directory, on 127.0.0.1 and an
 * ephemeral port, trust authentication for the superuser `mandrill`. As root
 * it runs as `nobody` (PostgreSQL refuses to run as root). `stop()` and
 * `start()` restart it on the same port and data.
 *
 * @example
 * ```ts
 * await using pg = await Postgres.start();
 * const url = await pg.createDatabase("t1"); // postgres://mandrill@127.0.0.1:PORT/t1
 * ```
 * @module
 */
import { freePort, waitFor } from "./wait.ts";

const _BIN_DIRS = [
  "/usr/lib/postgresql/17/bin",
  "/usr/lib/postgresql/16/bin",
  "/usr/lib/postgresql/15/bin",
];

/** Where `initdb`, `pg_ctl` and `psql`-free tools live, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  const fromEnv = Deno.env.get("MANDRILL_PG_BIN");
  const candidates = fromEnv ? [fromEnv, ..._BIN_DIRS] : _BIN_DIRS;
  return candidates.find((dir) => {
    try {
      return Deno.statSync(`${dir}/pg_ctl`).isFile && Deno.statSync(`${dir}/initdb`).isFile;
    } catch {
      return false;
    }
  });
}

/** A running test PostgreSQL; dispose it to stop it and remove its files. */
export class Postgres implements AsyncDisposable {
  readonly dir: string;
  readonly port: number;
  readonly #bin: string;
  readonly #asUser: string | undefined;
  #running = false;

  private constructor(dir: string, port: number, bin: string, asUser: string | undefined) {
    this.dir = dir;
    this.port = port;
    this.#bin = bin;
    this.#asUser = asUser;
  }

  /** The URL of database `db` as the superuser. */
  url(db = "postgres"): string {
    return `postgres://mandrill@127.0.0.1:${this.port}/${db}`;
  }

  /** Initialises a cluster and starts it. Throws (never skips) when PostgreSQL is missing. */
  static async start(): Promise<Postgres> {
    const bin = postgresBinDir();
    if (bin === undefined) {
      throw new Error(
        "PostgreSQL is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin): " +
          "apt-get install -y postgresql (the test preflight does this)",
      );
    }
    const asUser = Deno.uid() === 0 ? "nobody" : undefined;
    const dir = await Deno.makeTempDir({ prefix: "mandrill-pg-" });
    if (asUser) await _run("chown", [`${asUser}:`, dir]);
    await Deno.chmod(dir, 0o700);
    for (let attempt = 1;; attempt++) {
      const pg = new Postgres(dir, freePort(), bin, asUser);
      try {
        if (attempt === 1) {
          await pg.#tool("initdb", [
            "-D",
            `${dir}/data`,
            "-U",
            "mandrill",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
          ]);
        }
        await pg.start();
        return pg;
      } catch (err) {
        // Another test took the port between freePort() and the bind: try another.
        const log = await Deno.readTextFile(`${dir}/pg.log`).catch(() => "");
        if (attempt < 5 && /could not bind|Address already in use/.test(log)) continue;
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw new Error(`Cannot start the test PostgreSQL: ${String(err)}\n${log.slice(-2000)}`);
      }
    }
  }

  /** Starts (or restarts) the server and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.#running) throw new Error("postgres already running");
    await Deno.writeTextFile(`${this.dir}/pg.log`, "").catch(() => {});
    if (this.#asUser) await _run("chown", [`${this.#asUser}:`, `${this.dir}/pg.log`]);
    const options = [
      `-p ${this.port}`,
      "-c listen_addresses=127.0.0.1",
      `-c unix_socket_directories=${this.dir}`,
      // Tests need correctness across processes, not durability across power loss.
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c max_connections=200",
    ].join(" ");
    await this.#tool("pg_ctl", [
      "-D",
      `${this.dir}/data`,
      "-l",
      `${this.dir}/pg.log`,
      "-o",
      options,
      "-w",
      "-t",
      "30",
      "start",
    ]);
    this.#running = true;
    await waitFor(async () => {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
      c.close();
      return true;
    }, { what: `postgres on port ${this.port}` });
  }

  /** Stops the server (fast shutdown: open connections are cut) and waits for it. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.#tool("pg_ctl", ["-D", `${this.dir}/data`, "-m", "fast", "-w", "stop"]);
  }

  /** Creates database `name` and returns its URL. */
  async createDatabase(name: string): Promise<string> {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new TypeError(`bad database name ${name}`);
    await this.#tool("createdb", [
      "-h",
      "127.0.0.1",
      "-p",
      String(this.port),
      "-U",
      "mandrill",
      name,
    ]);
    return this.url(name);
  }

  /** The server's log so far. */
  async log(): Promise<string> {
    return await Deno.readTextFile(`${this.dir}/pg.log`).catch(() => "");
  }

  async #tool(name: string, args: string[]): Promise<void> {
    const program = `${this.#bin}/${name}`;
    const [cmd, argv] = this.#asUser
      ? ["runuser", ["-u", this.#asUser, "--", program, ...args]]
      : [program, args];
    await _run(cmd, argv, this.dir);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop().catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

async function _run(program: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(program, { args, cwd, stdin: "null" }).output();
  if (!out.success) {
    const text = new TextDecoder();
    throw new Error(
      `${program} ${args.join(" ")} exited with ${out.code}: ${text.decode(out.stderr)}${
        text.decode(out.stdout)
      }`,
    );
  }
}
