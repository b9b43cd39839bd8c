/** Starts a real Mosquitto broker on loopback on an ephemeral port, for integration tests. */
import { freePort, waitFor } from "./wait.ts";

/** Options of {@linkcode startMosquitto}. */
export interface MosquittoOptions {
  /** Keep sessions and queued messages on disk across restarts. Default: false. */
  persistence?: boolean;
  /** Extra lines for mosquitto.conf. */
  extraConfig?: string[];
  /**
   * A second listener with TLS on `tlsPort` (see {@linkcode Mosquitto.tlsUrl}):
   * the broker's certificate and key, and with `requireCertificate`, client
   * certificates signed by the CA in `caFile` are required (mutual TLS).
   */
  tls?: { caFile: string; certFile: string; keyFile: string; requireCertificate?: boolean };
}

/** A running broker; `stop()`/`start()` restart it on the same port. */
export class Mosquitto implements AsyncDisposable {
  readonly port: number;
  /** The TLS listener's port (0 without `tls`). */
  readonly tlsPort: number;
  readonly dir: string;
  readonly bin: string;
  #proc: Deno.ChildProcess | undefined;
  #options: MosquittoOptions;
  #logFile: string;

  private constructor(
    bin: string,
    dir: string,
    port: number,
    tlsPort: number,
    options: MosquittoOptions,
  ) {
    this.bin = bin;
    this.dir = dir;
    this.port = port;
    this.tlsPort = tlsPort;
    this.#options = options;
    this.#logFile = `${dir}/mosquitto.log`;
  }

  /** `mqtt://127.0.0.1:PORT`. */
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** `mqtts://localhost:TLSPORT` (the TLS listener; give its certificate the name localhost). */
  get tlsUrl(): string {
    return `mqtts://localhost:${this.tlsPort}`;
  }

  /** Creates the config and starts the broker. */
  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const bin = [
      ...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "").map((d) =>
        `${d}/mosquitto`
      ),
      "/usr/sbin/mosquitto",
    ].find((p) => _exists(p));
    if (!bin) {
      throw new Error(
        "mosquitto is not installed: apt-get install -y mosquitto (the test preflight, scripts/preflight.ts, does this)",
      );
    }
    const dir = await Deno.makeTempDir({ prefix: "mandrill-mosq-" });
    // A port free a moment ago may be taken by another test before the broker
    // binds it (--parallel): then the broker exits, and we try other ports.
    for (let attempt = 1;; attempt++) {
      const m = new Mosquitto(bin, dir, freePort(), options.tls ? freePort() : 0, options);
      await m.#writeConfig();
      try {
        await m.start();
        return m;
      } catch (err) {
        if (attempt >= 5 || !/Address already in use/.test(await m.log())) {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
          throw err;
        }
        await Deno.remove(m.#logFile).catch(() => {});
      }
    }
  }

  async #writeConfig(): Promise<void> {
    const options = this.#options;
    const dir = this.dir;
    const conf = [
      `listener ${this.port} 127.0.0.1`,
      "allow_anonymous true",
      `persistence ${options.persistence ? "true" : "false"}`,
      `persistence_location ${dir}/`,
      `log_dest file ${this.#logFile}`,
      "log_type error",
      "log_type warning",
      "max_queued_messages 1000000",
      "max_inflight_messages 0",
      "max_queued_bytes 0",
      "message_size_limit 0",
      "persistent_client_expiration 1h",
      // Without it Mosquitto's small writes wait on Nagle's algorithm: ~25 ms a message at 100/s.
      "set_tcp_nodelay true",
      // As root, Mosquitto would switch to the mosquitto user and then could
      // write neither its log nor its persistence file into our temp dir.
      ...(Deno.uid() === 0 ? ["user root"] : []),
      ...(options.extraConfig ?? []),
      ...(options.tls
        ? [
          `listener ${this.tlsPort} 127.0.0.1`,
          `cafile ${options.tls.caFile}`,
          `certfile ${options.tls.certFile}`,
          `keyfile ${options.tls.keyFile}`,
          `require_certificate ${options.tls.requireCertificate ? "true" : "false"}`,
        ]
        : []),
    ];
    await Deno.writeTextFile(`${dir}/mosquitto.conf`, conf.join("\n") + "\n");
  }

  /** The broker process's pid while it runs. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts (or restarts) the broker process and waits for its port. */
  async start(): Promise<void> {
    if (this.#proc) throw new Error("mosquitto already running");
    this.#proc = new Deno.Command(this.bin, {
      args: ["-c", `${this.dir}/mosquitto.conf`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited: Deno.CommandStatus | undefined;
    this.#proc.status.then((s) => exited = s);
    const ports = [this.port, ...(this.tlsPort ? [this.tlsPort] : [])];
    await waitFor(async () => {
      if (exited) return true; // reported below, not retried until the deadline
      for (const port of ports) (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    }, { what: `mosquitto on port(s) ${ports.join(", ")}` });
    if (exited) {
      this.#proc = undefined;
      throw new Error(`mosquitto exited with code ${exited.code}: ${(await this.log()).trim()}`);
    }
  }

  /** Stops the broker (SIGTERM, so persistence is written) and waits for it to exit. */
  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p) return;
    this.#proc = undefined;
    try {
      p.kill("SIGTERM");
    } catch { /* already gone */ }
    await p.status;
    await waitFor(async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.port })).close();
        return false;
      } catch {
        return true;
      }
    }, { what: "mosquitto port to close" });
  }

  /** The broker's log so far (errors and warnings). */
  async log(): Promise<string> {
    return await Deno.readTextFile(this.#logFile).catch(() => "");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function _exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
