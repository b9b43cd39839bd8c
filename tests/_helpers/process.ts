/** Runs `mandrill` (main.ts, or a bundle) as a child process and watches its log lines. */
import { waitFor, type WaitOptions } from "./wait.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Options of {@linkcode MandrillProcess.start}. */
export interface MandrillProcessOptions {
  /** Script to run instead of main.ts (e.g. the bundle). */
  script?: string;
  env?: Record<string, string>;
}

/** A running `mandrill` process. Disposal kills it (SIGKILL) if still running. */
export class MandrillProcess implements AsyncDisposable {
  readonly lines: string[] = [];
  readonly #proc: Deno.ChildProcess;
  readonly #reading: Promise<void>;
  #status: Deno.CommandStatus | undefined;

  private constructor(proc: Deno.ChildProcess) {
    this.#proc = proc;
    this.#reading = this.#read();
    proc.status.then((s) => this.#status = s);
  }

  /** Starts `mandrill ARGS...`. */
  static start(args: string[], options: MandrillProcessOptions = {}): MandrillProcess {
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "--no-check", options.script ?? MAIN, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...options.env },
    }).spawn();
    return new MandrillProcess(proc);
  }

  async #read(): Promise<void> {
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      let buf = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          this.lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      }
      if (buf) this.lines.push(buf);
    };
    await Promise.all([pump(this.#proc.stdout), pump(this.#proc.stderr)]);
  }

  /** The pid. */
  get pid(): number {
    return this.#proc.pid;
  }

  /** Exit status, once exited. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** Waits for a log line matching `re`; returns it. */
  async waitForLine(re: RegExp, options: WaitOptions = {}): Promise<string> {
    return await waitFor(() => {
      if (this.#status && !this.lines.some((l) => re.test(l))) {
        throw new Error(
          `mandrill exited (${this.#status.code}) before logging ${re}:\n${
            this.lines.slice(-20).join("\n")
          }`,
        );
      }
      return this.lines.find((l) => re.test(l));
    }, { what: `log line ${re}`, timeoutMs: 30_000, ...options });
  }

  /**
   * The port its HTTP server listens on, from its log line. Give it
   * `http.listen: "127.0.0.1:0"`: the kernel picks a free port as it binds,
   * so tests running in parallel never race for one.
   */
  async httpPort(options: WaitOptions = {}): Promise<number> {
    const line = await this.waitForLine(
      /(Status page|HTTP endpoint) on http:\/\/[^:]+:\d+\//,
      options,
    );
    return Number(/http:\/\/[^:]+:(\d+)\//.exec(line)![1]);
  }

  /** Sends a signal. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#proc.kill(signal);
    } catch { /* already exited */ }
  }

  /** Waits for exit and all output. */
  async exited(): Promise<Deno.CommandStatus> {
    const s = await this.#proc.status;
    await this.#reading;
    return s;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#status) this.kill("SIGKILL");
    await this.exited();
  }
}

/** What a finished `mandrill` command printed. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mandrill ARGS...` (main.ts) to its end, with `NO_COLOR=1` unless `env` says otherwise. */
export async function runMandrill(
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandOutput> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-check", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
