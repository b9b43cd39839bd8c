/** Starts a real Mosquitto broker on loopback on an ephemeral port, for integration tests. */
import { freePort, waitFor, waitForPort } from "./wait.ts";

/** Options of {@linkcode startMosquitto}. */
export interface MosquittoOptions {
  /** Keep sessions and queued messages on disk across restarts. Default: false. */
  persistence?: boolean;
  /** Extra lines for mosquitto.conf. */
  extraConfig?: string[];
}

/** A running broker; `stop()`/`start()` restart it on the same port. */
export class Mosquitto implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  #proc: Deno.ChildProcess | undefined;
  #options: MosquittoOptions;
  #logFile: string;

  private constructor(dir: string, port: number, options: MosquittoOptions) {
    this.dir = dir;
    this.port = port;
    this.#options = options;
    this.#logFile = `${dir}/mosquitto.log`;
  }

  /** `mqtt://127.0.0.1:PORT`. */
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Creates the config and starts the broker. */
  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].find((p) => _exists(p));
    if (!bin) {
      throw new Error(
        "mosquitto is not installed: apt-get install -y mosquitto (.ci/run does this)",
      );
    }
    const dir = await Deno.makeTempDir({ prefix: "mandrill-mosq-" });
    const m = new Mosquitto(dir, freePort(), options);
    const conf = [
      `listener ${m.port} 127.0.0.1`,
      "allow_anonymous true",
      `persistence ${options.persistence ? "true" : "false"}`,
      `persistence_location ${dir}/`,
      `log_dest file ${m.#logFile}`,
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
    ];
    await Deno.writeTextFile(`${dir}/mosquitto.conf`, conf.join("\n") + "\n");
    await m.start();
    return m;
  }

  /** Starts (or restarts) the broker process and waits for its port. */
  async start(): Promise<void> {
    if (this.#proc) throw new Error("mosquitto already running");
    this.#proc = new Deno.Command("/usr/sbin/mosquitto", {
      args: ["-c", `${this.dir}/mosquitto.conf`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForPort(this.port, { what: `mosquitto on port ${this.port}` });
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
