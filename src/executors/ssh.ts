/**
 * The `ssh` executor: restarts a host by running a fixed remote command over
 * OpenSSH's `ssh` client, non-interactively.
 *
 * Only validated host names or IP literals ever reach the ssh command line, and
 * the remote command comes from config, each argument quoted for the remote shell.
 * @module
 */
import { programName, reasonText, runProcess, withTail } from "./_run.ts";
import type { Spawner } from "./_spawner.ts";
import {
  buildSshArgv,
  resolveOptions,
  type SshExecutorOptions as SshArgvOptions,
  targetProblem,
} from "./_ssh_argv.ts";
import {
  effectiveTimeoutMs,
  type ExecuteOutcome,
  type ExecuteRequest,
  type Executor,
} from "./types.ts";

export { buildSshArgv, isValidAddress, quoteForShell } from "./_ssh_argv.ts";

/** Options of the ssh executor (`SshExecutor`, `probeBootId`); see `buildSshArgv` for the ssh ones. */
export interface SshExecutorOptions extends SshArgvOptions {
  /** Starts ssh on this spawner's worker thread. Default: none, spawned from the calling thread. */
  spawner?: Spawner;
}

/** Remote command of {@linkcode probeBootId}; fixed, never taken from config. */
export const BOOT_ID_COMMAND: readonly string[] = [
  "cat",
  "/proc/sys/kernel/random/boot_id",
  "/proc/uptime",
];

/** Detail of an `ok` outcome when the connection dropped as expected. */
export const DISCONNECT_DETAIL = "restart issued; connection dropped";

/** What ssh left behind when it exited, for {@linkcode classifySshExit}. */
export interface SshExit {
  /** ssh's exit code. */
  code: number;
  /** Tail of ssh's stderr. */
  stderr: string;
  /** Tail of ssh's stdout. Default: "". */
  stdout?: string;
  /** `user@target`, for messages. Default: "remote host". */
  target?: string;
}

const AUTH_RE = /Permission denied|Too many authentication failures/i;
const HOST_KEY_RE = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i;
const CONNECT_RE =
  /Connection refused|timed out|Could not resolve|No route to host|Network is unreachable|Name or service not known|kex_exchange_identification/i;

/**
 * Maps an ssh exit to an outcome. Pure. 0 is `ok`; 255 is `auth`, `connect`, or —
 * when `expectDisconnect` and nothing points at a failure to get in — `ok`
 * ("restart issued; connection dropped"); anything else is `exit`.
 */
export function classifySshExit(exit: SshExit, expectDisconnect = false): ExecuteOutcome {
  const { code, stderr } = exit;
  const target = exit.target ?? "remote host";
  if (code === 0) {
    const stdout = exit.stdout ?? "";
    return stdout === "" ? { kind: "ok" } : { kind: "ok", detail: stdout };
  }
  if (code === 255) {
    if (AUTH_RE.test(stderr)) {
      return { kind: "auth", detail: withTail(`ssh authentication to ${target} failed`, stderr) };
    }
    if (HOST_KEY_RE.test(stderr)) {
      return {
        kind: "connect",
        detail: withTail(`ssh host key verification for ${target} failed`, stderr),
      };
    }
    if (CONNECT_RE.test(stderr)) {
      return { kind: "connect", detail: withTail(`ssh cannot connect to ${target}`, stderr) };
    }
    if (expectDisconnect) return { kind: "ok", detail: DISCONNECT_DETAIL };
  }
  return { kind: "exit", code, detail: withTail(`ssh to ${target} exited with ${code}`, stderr) };
}

/**
 * Restarts hosts by running `options.command` over ssh.
 *
 * @example
 * ```ts
 * const ssh = new SshExecutor({ user: "root", command: ["systemctl", "reboot"], expectDisconnect: true });
 * const outcome = await ssh.execute({ id: "r-1", host: "web-1", address: "10.0.0.5" });
 * ```
 */
export class SshExecutor implements Executor {
  readonly #options: SshExecutorOptions;

  /** Checks the options; throws `TypeError`/`RangeError` on bad ones. */
  constructor(options: SshExecutorOptions) {
    resolveOptions(options);
    this.#options = { ...options, command: [...options.command] };
  }

  /** Runs the remote command on the request's target; never throws for expected failures. */
  execute(req: ExecuteRequest, signal?: AbortSignal): Promise<ExecuteOutcome> {
    return runSsh(req, this.#options, signal);
  }

  /** Reads the target's boot id; see {@linkcode probeBootId}. */
  probeBootId(req: ExecuteRequest, signal?: AbortSignal): Promise<BootIdResult> {
    return probeBootId(req, this.#options, signal);
  }
}

/** The result of {@linkcode probeBootId}: the boot id, or why it could not be read. */
export type BootIdResult =
  | { kind: "ok"; bootId: string; uptimeSec?: number }
  | Exclude<ExecuteOutcome, { kind: "ok" }>;

const BOOT_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Reads `/proc/sys/kernel/random/boot_id` and `/proc/uptime` on the request's
 * target over ssh, with the same connection options as a restart (the remote
 * command is fixed). A boot id that changed, or an uptime shorter than the time
 * since the restart began, means the host rebooted. The uptime is left out
 * when it cannot be read.
 */
export async function probeBootId(
  req: ExecuteRequest,
  options: SshExecutorOptions,
  signal?: AbortSignal,
): Promise<BootIdResult> {
  const probe = { ...options, command: [...BOOT_ID_COMMAND], expectDisconnect: false };
  const outcome = await runSsh(req, probe, signal);
  if (outcome.kind !== "ok") return outcome;
  const [first = "", second = ""] = (outcome.detail ?? "").trim().split("\n");
  const bootId = first.trim();
  if (!BOOT_ID_RE.test(bootId)) {
    return {
      kind: "exit",
      code: 0,
      detail: `unexpected boot id from ${req.host}: ${JSON.stringify(bootId.slice(0, 200))}`,
    };
  }
  // "/proc/uptime": seconds since boot, then idle seconds.
  const uptimeSec = Number(second.trim().split(/\s+/)[0]);
  return second !== "" && Number.isFinite(uptimeSec) && uptimeSec >= 0
    ? { kind: "ok", bootId, uptimeSec }
    : { kind: "ok", bootId };
}

async function runSsh(
  req: ExecuteRequest,
  options: SshExecutorOptions,
  signal?: AbortSignal,
): Promise<ExecuteOutcome> {
  const problem = targetProblem(req);
  if (problem !== undefined) return { kind: "rejected", detail: problem };
  const o = resolveOptions(options);
  const [program, ...args] = buildSshArgv(req, options) as [string, ...string[]];
  const target = `${o.user}@${req.address ?? req.host}`;
  const timeoutMs = effectiveTimeoutMs(req, o.timeoutSec);
  const result = await runProcess(program, {
    args,
    timeoutMs,
    signal,
    spawner: options.spawner,
  });
  switch (result.kind) {
    case "spawn-error":
      return { kind: "exit", code: result.code, detail: result.message };
    case "aborted":
      return {
        kind: "aborted",
        detail: `ssh to ${target} aborted: ${reasonText(result.reason)}`,
      };
    case "timeout":
      return {
        kind: "timeout",
        detail: withTail(
          `${programName(program)} to ${target} did not finish within ${timeoutMs / 1000} s`,
          result.stderr,
        ),
      };
    case "exited":
      return classifySshExit({ ...result, target }, o.expectDisconnect);
  }
}
