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
import type {
  ChildOutput,
  ChildStatus,
  SpawnedChild,
  Spawner,
  SpawnResult,
  SpawnSpec,
} from "./_spawner.ts";
import { spawnChild } from "./_spawner_worker.ts";
import { DEFAULT_TAIL_BYTES, drainInto, TailBuffer } from "./_tail.ts";
import { log } from "../log.ts";

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
  /**
   * Starts the child on the spawner's worker thread, keeping the blocking spawn
   * off this thread. Default: none, the child is spawned from this thread.
   */
  spawner?: Spawner;
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
  const spec = _spawnSpec(program, options);
  if (spec.kind === "spawn-error") return spec;
  let started = options.spawner ? await options.spawner.spawn(spec) : _spawnHere(spec);
  if (started.kind === "unavailable") {
    _warnUnavailable(started.reason);
    started = _spawnHere(spec);
  }
  if (started.kind === "spawn-error") {
    return { kind: "spawn-error", code: started.code, message: `${program}: ${started.message}` };
  }
  return await _supervise(started.child, options);
}

let _warned = false;

/** Says once that spawning falls back to the calling thread. */
function _warnUnavailable(reason: string): void {
  if (_warned) return;
  _warned = true;
  log("executor").warn("{reason}: spawning from the main thread instead", { reason });
}

/** Waits for `child` to exit, terminating its process group at the deadline or on abort. */
async function _supervise(child: SpawnedChild, options: RunOptions): Promise<RunResult> {
  const { signal } = options;
  let exited = false;
  let stopped: "timeout" | "aborted" | undefined;
  let killedWith: "SIGTERM" | "SIGKILL" = "SIGTERM";
  let abortReason: unknown;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const killGroup = (sig: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, sig);
    } catch {
      // No group: it is gone, or setsid has not called setsid(2) yet. Until we
      // learn that the leader exited, its pid is still the child's.
      if (exited) return;
      try {
        Deno.kill(child.pid, sig);
      } catch {
        // Gone as well.
      }
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
  // A spawner starts the child asynchronously: the signal may have fired meanwhile.
  if (signal?.aborted) onAbort();

  let status: ChildStatus;
  try {
    status = await child.status;
  } finally {
    exited = true;
    clearTimeout(deadline);
    clearTimeout(killTimer);
    signal?.removeEventListener("abort", onAbort);
  }
  if (status.kind === "lost") {
    return { kind: "aborted", reason: status.reason, stdout: "", stderr: "" };
  }
  // Once we decided to kill the tree, leave nothing of it behind, even members
  // that outlived the leader by ignoring SIGTERM.
  if (stopped) killGroup("SIGKILL");
  const output = await child.output();

  if (stopped === "timeout") return { kind: "timeout", killedWith, ...output };
  if (stopped === "aborted") return { kind: "aborted", reason: abortReason, ...output };
  return { kind: "exited", code: status.code, signal: status.signal, ...output };
}

/** How to start `program`, or why it cannot be started (checked here, before any spawn). */
function _spawnSpec(
  program: string,
  options: RunOptions,
): ({ kind: "spec" } & SpawnSpec) | Extract<RunResult, { kind: "spawn-error" }> {
  const resolved = _resolveProgram(program);
  if (resolved.kind === "missing") {
    return { kind: "spawn-error", code: 127, message: `${program}: command not found` };
  }
  if (resolved.kind === "not-executable") {
    return { kind: "spawn-error", code: 126, message: `${program}: permission denied` };
  }
  const setsid = _setsid();
  return {
    kind: "spec",
    cmd: setsid ?? resolved.path,
    args: setsid ? ["--", resolved.path, ...(options.args ?? [])] : options.args ?? [],
    // Children get a small, known environment: never mandrill's secrets
    // (MQTT_PASSWORD and the like), only what running a program needs.
    env: { ..._baseEnv(), ...options.env },
    detached: setsid === undefined,
    session: { cmd: resolved.path, args: options.args ?? [] },
    tailBytes: options.tailBytes ?? DEFAULT_TAIL_BYTES,
    drainGraceMs: options.drainGraceMs ?? 1000,
  };
}

/** Spawns from this thread (blocks it until the child has exec'd). */
function _spawnHere(spec: SpawnSpec): Exclude<SpawnResult, { kind: "unavailable" }> {
  const started = spawnChild(spec);
  if (!("child" in started)) return { kind: "spawn-error", ...started };
  const { child } = started;
  const out = new TailBuffer(spec.tailBytes);
  const err = new TailBuffer(spec.tailBytes);
  const drains = [drainInto(child.stdout, out), drainInto(child.stderr, err)];
  return {
    kind: "spawned",
    child: {
      pid: child.pid,
      status: child.status.then(
        (s) => ({ kind: "exited", code: s.code, signal: s.signal }),
        (reason) => ({ kind: "lost", reason }),
      ),
      output: async (): Promise<ChildOutput> => {
        await settleDrains(drains, spec.drainGraceMs);
        return { stdout: out.text(), stderr: err.text() };
      },
    },
  };
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
  return _statKind(path) === "executable";
}

function _statKind(path: string): "executable" | "not-executable" | "missing" {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0 ? "executable" : "not-executable";
  } catch {
    return "missing";
  }
}

type Resolved = { kind: "found"; path: string } | { kind: "missing" } | { kind: "not-executable" };

/**
 * Found programs, for a second: a stat per spawn showed in profiles. A program
 * removed or made non-executable meanwhile still fails with 127 or 126: exec
 * fails in setsid (or in the spawn) with the same codes.
 */
const _resolvedCache = new Map<string, { path: string; until: number }>();
const _RESOLVED_TTL_MS = 1000;
const _RESOLVED_MAX = 256;

/** `program` as a path: as given when it has a slash, else the first executable in PATH. */
function _resolveProgram(program: string): Resolved {
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  const key = program.includes("/") ? program : `${path}\0${program}`;
  // A monotonic clock for a cache lifetime only; no behaviour depends on it.
  const now = performance.now();
  const cached = _resolvedCache.get(key);
  if (cached && cached.until > now) return { kind: "found", path: cached.path };
  const resolved = _resolveUncached(program, path);
  if (resolved.kind === "found") {
    if (_resolvedCache.size >= _RESOLVED_MAX) _resolvedCache.clear();
    _resolvedCache.set(key, { path: resolved.path, until: now + _RESOLVED_TTL_MS });
  }
  return resolved;
}

function _resolveUncached(program: string, path: string): Resolved {
  if (program.includes("/")) {
    const kind = _statKind(program);
    return kind === "executable" ? { kind: "found", path: program } : { kind };
  }
  for (const dir of path.split(":")) {
    const candidate = `${dir || "."}/${program}`;
    if (_isExecutableFile(candidate)) return { kind: "found", path: candidate };
  }
  return { kind: "missing" };
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

let _inherited: Readonly<Record<string, string>> | undefined;

/** The {@linkcode INHERITED_ENV} part of mandrill's environment, read once (it does not change while running). */
function _baseEnv(): Readonly<Record<string, string>> {
  if (_inherited) return _inherited;
  const out: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  _inherited = Object.freeze(out);
  return _inherited;
}
