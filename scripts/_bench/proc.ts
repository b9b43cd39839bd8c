/**
 * Child processes for the bench: a Deno script or any program, its stdout and
 * stderr read line by line (stderr kept as a bounded tail), `/proc` readings
 * (RSS, CPU time) and waits with deadlines.
 * @module
 */

/** Repository root (scripts/_bench/../..). */
export const ROOT: string = new URL("../../", import.meta.url).pathname;

/** Options of {@linkcode BenchProcess.deno}. */
export interface DenoProcessOptions {
  /** Flags for `deno run` before the script, e.g. `--cpu-prof`. Default: none. */
  denoFlags?: string[];
  /** Extra environment variables. Default: none. */
  env?: Record<string, string>;
}

/** A running child whose output is collected line by line. */
export class BenchProcess implements AsyncDisposable {
  /** Every stdout line so far. */
  readonly stdout: string[] = [];
  /** The last 200 stderr lines. */
  readonly stderrTail: string[] = [];
  /** How many stderr lines in all. */
  stderrLines = 0;
  readonly #proc: Deno.ChildProcess;
  readonly #reading: Promise<void>;
  #status: Deno.CommandStatus | undefined;
  readonly label: string;

  private constructor(proc: Deno.ChildProcess, label: string) {
    this.#proc = proc;
    this.label = label;
    this.#reading = Promise.all([
      _lines(proc.stdout, (l) => this.stdout.push(l)),
      _lines(proc.stderr, (l) => {
        this.stderrLines++;
        this.stderrTail.push(l);
        if (this.stderrTail.length > 200) this.stderrTail.shift();
      }),
    ]).then(() => {});
    proc.status.then((s) => this.#status = s);
  }

  /** Starts `deno run -A [flags] SCRIPT ARGS...` from the repository root. */
  static deno(script: string, args: string[], options: DenoProcessOptions = {}): BenchProcess {
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", ...(options.denoFlags ?? []), script, ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...options.env },
    }).spawn();
    return new BenchProcess(proc, script.split("/").pop() ?? script);
  }

  /** Starts any `program` with `args` (stdin null, stdout and stderr collected). */
  static spawn(program: string, args: string[]): BenchProcess {
    const proc = new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new BenchProcess(proc, program.split("/").pop() ?? program);
  }

  /** The pid. */
  get pid(): number {
    return this.#proc.pid;
  }

  /** Exit status once exited. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** Sends a signal (ignored if it already exited). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#proc.kill(signal);
    } catch { /* already gone */ }
  }

  /** Waits for exit and the end of its output. */
  async exited(): Promise<Deno.CommandStatus> {
    const s = await this.#proc.status;
    await this.#reading;
    return s;
  }

  /** Waits for a stdout line matching `re`, failing if the process exits first. */
  async waitForStdout(re: RegExp, timeoutMs: number): Promise<string> {
    return await waitUntil(() => {
      const line = this.stdout.find((l) => re.test(l));
      if (line !== undefined) return line;
      if (this.#status) throw new Error(`${this.label} exited before printing ${re}${this.tail()}`);
      return undefined;
    }, { timeoutMs, what: `${this.label} to print ${re}` });
  }

  /**
   * Waits for exit and parses the last stdout line as JSON; throws with the
   * stderr tail if it failed or took longer than `timeoutMs`.
   */
  async json<T>(timeoutMs: number): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        reject(new Error(`${this.label} did not finish within ${timeoutMs} ms${this.tail()}`));
      }, timeoutMs);
    });
    try {
      const s = await Promise.race([this.exited(), timeout]);
      if (!s.success) throw new Error(`${this.label} exited with ${s.code}${this.tail()}`);
    } finally {
      clearTimeout(timer);
    }
    const last = this.stdout.findLast((l) => l.startsWith("{"));
    if (last === undefined) throw new Error(`${this.label} printed no JSON result${this.tail()}`);
    return JSON.parse(last) as T;
  }

  /** The stderr tail, for error messages. */
  tail(n = 20): string {
    const t = this.stderrTail.slice(-n);
    return t.length ? `:\n  ${t.join("\n  ")}` : "";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#status) this.kill("SIGKILL");
    await this.exited();
  }
}

async function _lines(stream: ReadableStream<Uint8Array>, push: (l: string) => void) {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) push(buf);
}

/** Options of {@linkcode waitUntil}. */
export interface WaitUntilOptions {
  /** Give up after this long. Required. */
  timeoutMs: number;
  /** Poll interval. Default: 50 ms. */
  intervalMs?: number;
  /** Named in the timeout error. */
  what: string;
}

/** Polls `cond` until it returns something other than undefined/false; throws at the deadline. */
export async function waitUntil<T>(
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitUntilOptions,
): Promise<T> {
  const end = performance.now() + options.timeoutMs;
  while (true) {
    const v = await cond();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > end) {
      throw new Error(`Timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

/** Memory of a process from /proc/PID/status, in bytes. */
export interface Memory {
  /** Current resident set (VmRSS). */
  rss: number;
  /** Peak resident set so far (VmHWM). */
  hwm: number;
}

/** Reads VmRSS and VmHWM of `pid`. */
export function readMemory(pid: number): Memory {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (key: string) => {
    const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
    if (!m) throw new Error(`No ${key} in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/** User + system CPU time of `pid` so far, in seconds (from /proc/PID/stat, 100 ticks/s). */
export function readCpuSeconds(pid: number | "self"): number {
  const f = _statFields(pid);
  // utime and stime are fields 14 and 15 of stat; 12 and 13 after "pid (comm) ".
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * User + system CPU time of the children `pid` has waited for (cutime +
 * cstime, their own waited-for children included), in seconds.
 */
export function readChildrenCpuSeconds(pid: number | "self"): number {
  const f = _statFields(pid);
  return (Number(f[13]) + Number(f[14])) / 100;
}

/**
 * Busy CPU time of the whole machine so far, in seconds (all cores, from
 * /proc/stat): every state but idle and iowait; steal (the hypervisor running
 * another guest) counts as busy.
 */
export function readMachineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0]!;
  // cpu  user nice system idle iowait irq softirq steal (guest counted in user)
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return (total - ticks[3]! - ticks[4]!) / 100;
}

function _statFields(pid: number | "self"): string[] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** High-resolution wall-clock time in ms since the epoch (comparable across processes). */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The first `name` on PATH that is a file, or undefined. */
export function findProgram(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    const path = `${dir || "."}/${name}`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}
