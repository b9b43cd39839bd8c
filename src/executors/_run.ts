/**
 * Runs one child process with no shell, an overall deadline, abort support and
 * bounded output capture. Shared by the command and ssh executors.
 *
 * The child is started in its own process group, so a timeout or an abort
 * terminates the whole tree it spawned: SIGTERM to the group, then SIGKILL once
 * the grace period is over. The group comes from util-linux `setsid` where it
 * is installed: Deno's `detached` spawns by fork(), which slows down as the
 * process grows (6 ms a spawn at 250 MiB, against well under 1 ms this way).
 * @module
 */
import { DEFAULT_TAIL_BYTES, drainInto, TailBuffer } from "./_tail.ts";

/** Options of {@linkcode runProcess}. */
export interface RunOptions {
  /** Arguments after the program, passed as-is (no shell). Default: none. */
  args?: string[];
  /** Extra environment variables for the child, on top of the inherited ones. Default: none. */
  env?: Record<string, string>;
  /** Overall deadline in milliseconds, after which the process group is terminated. Required. */
  timeoutMs: number;
  /** Time between SIGTERM and SIGKILL. Default: 2000 ms. */
  killGraceMs?: number;
  /** Bytes kept from the end of stdout and of stderr. Default: 2048. */
  tailBytes?: number;
  /** How long to keep reading output after the process exited (a grandchild may hold the pipe). Default: 1000 ms. */
  drainGraceMs?: number;
  /** Terminates the process group when aborted. */
  signal?: AbortSignal;
}

/** Output tails of a finished child. */
export interface RunOutput {
  stdout: string;
  stderr: string;
}

/** How a child run ended. */
export type RunResult =
  | ({ kind: "exited"; code: number; signal: Deno.Signal | null } & RunOutput)
  | ({ kind: "timeout"; killedWith: "SIGTERM" | "SIGKILL" } & RunOutput)
  | ({ kind: "aborted"; reason: unknown } & RunOutput)
  | { kind: "spawn-error"; code: 126 | 127; message: string };

/** Runs `program` to completion; expected failures are results, never exceptions. */
export async function runProcess(program: string, options: RunOptions): Promise<RunResult> {
  const { signal } = options;
  if (signal?.aborted) {
    return { kind: "aborted", reason: signal.reason, stdout: "", stderr: "" };
  }
  let child: Deno.ChildProcess;
  try {
    const resolved = _resolveProgram(program);
    if (resolved === undefined) {
      return { kind: "spawn-error", code: 127, message: `${program}: command not found` };
    }
    if (!_isExecutableFile(resolved)) {
      return { kind: "spawn-error", code: 126, message: `${program}: permission denied` };
    }
    const setsid = _setsid();
    child = new Deno.Command(setsid ?? resolved, {
      args: setsid ? ["--", resolved, ...(options.args ?? [])] : options.args ?? [],
      // Children get a small, known environment: never mandrill's secrets
      // (MQTT_PASSWORD and the like), only what running a program needs.
      clearEnv: true,
      env: { ..._baseEnv(), ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: setsid === undefined,
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { kind: "spawn-error", code: 127, message: `${program}: command not found` };
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      return { kind: "spawn-error", code: 126, message: `${program}: permission denied` };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { kind: "spawn-error", code: 126, message: `${program}: cannot execute: ${message}` };
  }

  const tailBytes = options.tailBytes ?? DEFAULT_TAIL_BYTES;
  const out = new TailBuffer(tailBytes);
  const err = new TailBuffer(tailBytes);
  const drains = [drainInto(child.stdout, out), drainInto(child.stderr, err)];

  let exited = false;
  let stopped: "timeout" | "aborted" | undefined;
  let killedWith: "SIGTERM" | "SIGKILL" = "SIGTERM";
  let abortReason: unknown;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const killGroup = (sig: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, sig);
    } catch {
      // The group is already gone.
    }
  };
  const stop = (why: "timeout" | "aborted") => {
    if (exited || stopped) return;
    stopped = why;
    killGroup("SIGTERM");
    killTimer = setTimeout(() => {
      killedWith = "SIGKILL";
      killGroup("SIGKILL");
    }, options.killGraceMs ?? 2000);
  };
  const deadline = setTimeout(() => stop("timeout"), options.timeoutMs);
  const onAbort = () => {
    abortReason = signal?.reason;
    stop("aborted");
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  let status: Deno.CommandStatus;
  try {
    status = await child.status;
  } finally {
    exited = true;
    clearTimeout(deadline);
    clearTimeout(killTimer);
    signal?.removeEventListener("abort", onAbort);
  }
  // Once we decided to kill the tree, leave nothing of it behind, even members
  // that outlived the leader by ignoring SIGTERM.
  if (stopped) killGroup("SIGKILL");
  await settleDrains(drains, options.drainGraceMs ?? 1000);

  const output = { stdout: out.text(), stderr: err.text() };
  if (stopped === "timeout") return { kind: "timeout", killedWith, ...output };
  if (stopped === "aborted") return { kind: "aborted", reason: abortReason, ...output };
  return { kind: "exited", code: status.code, signal: status.signal, ...output };
}

/** Waits for the output to end, at most `graceMs`, then stops reading. */
async function settleDrains(
  drains: { done: Promise<void>; cancel(): Promise<void> }[],
  graceMs: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const all = Promise.all(drains.map((d) => d.done));
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  try {
    await Promise.race([all, expired]);
  } finally {
    clearTimeout(timer);
  }
  await Promise.all(drains.map((d) => d.cancel()));
}

/** A readable text of an abort reason. */
export function reasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? "aborted" : String(reason);
}

/** The text after the last "/" of a program path, for messages. */
export function programName(program: string): string {
  return program.slice(program.lastIndexOf("/") + 1) || program;
}

/** `head: tail`, or just `head` when there is no output. */
export function withTail(head: string, tail: string): string {
  return tail === "" ? head : `${head}: ${tail}`;
}

let _setsidPath: string | null | undefined;

/** util-linux `setsid`, if installed (cached). */
function _setsid(): string | undefined {
  if (_setsidPath === undefined) {
    _setsidPath = ["/usr/bin/setsid", "/bin/setsid"].find(_isExecutableFile) ?? null;
  }
  return _setsidPath ?? undefined;
}

function _isExecutableFile(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
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

/** `program` as a path: as given when it has a slash, else searched in PATH; undefined if not found. */
function _resolveProgram(program: string): string | undefined {
  if (program.includes("/")) return _exists(program) ? program : undefined;
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    const candidate = `${dir || "."}/${program}`;
    if (_isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Variables a restart command or ssh may need from mandrill's environment. */
const INHERITED_ENV = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "LANG",
  "LC_ALL",
  "LC_CTYPE",
  "TZ",
  "TMPDIR",
  "SSH_AUTH_SOCK",
] as const;

function _baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}
