/**
 * How the agent restarts its own host: runs the configured `restart.argv`
 * as-is (no shell, and unlike the controller's `command` executor, without
 * the host name appended: the agent restarts the host it runs on).
 * @module
 */
import type { AgentCommand } from "../contract/messages.ts";
import { programName, reasonText, runProcess, withTail } from "../executors/_run.ts";
import { REQUEST_ID_ENV } from "../executors/command.ts";

/** The result the agent reports on `{p}/agents/{host}/results`. */
export interface RestartResult {
  ok: boolean;
  detail?: string;
}

/** Carries out one restart command; never throws for expected failures. Plug point of the agent. */
export type RestartRunner = (command: AgentCommand, signal?: AbortSignal) => Promise<RestartResult>;

/** Longest `detail` sent back (the contract allows 4096 characters). */
const _MAX_DETAIL = 4000;

/** Options of {@linkcode commandRunner}. */
export interface CommandRunnerOptions {
  /** Program and arguments, run without a shell. Required, non-empty. */
  argv: readonly string[];
  /** Time limit in seconds; the process group is then killed. Required, > 0. */
  timeoutSec: number;
}

/**
 * A {@linkcode RestartRunner} running `argv` with the command id in
 * `MANDRILL_REQUEST_ID` (a validated id; the free-text reason of a message
 * never reaches the child). Exit 0 is
 * `ok: true` (detail: the tail of stdout); anything else is `ok: false` with
 * the tail of stderr.
 *
 * @example
 * ```ts
 * const run = commandRunner({ argv: ["sudo", "systemctl", "reboot"], timeoutSec: 60 });
 * const result = await run({ id: "r-1", action: "restart" });
 * ```
 */
export function commandRunner(options: CommandRunnerOptions): RestartRunner {
  const { argv, timeoutSec } = options;
  if (!Array.isArray(argv) || argv.length === 0 || argv[0] === "") {
    throw new TypeError("commandRunner argv must be a non-empty array naming a program");
  }
  if (!(Number.isFinite(timeoutSec) && timeoutSec > 0)) {
    throw new RangeError(`commandRunner timeoutSec must be > 0, got ${timeoutSec}`);
  }
  const [program, ...args] = argv as [string, ...string[]];
  const name = programName(program);
  return async (command, signal) => {
    const env: Record<string, string> = { [REQUEST_ID_ENV]: command.id };
    const r = await runProcess(program, { args, env, timeoutMs: timeoutSec * 1000, signal });
    switch (r.kind) {
      case "spawn-error":
        return { ok: false, detail: _cut(r.message) };
      case "aborted":
        return { ok: false, detail: _cut(`${name} aborted: ${reasonText(r.reason)}`) };
      case "timeout":
        return {
          ok: false,
          detail: _cut(withTail(
            `${name} did not finish within ${timeoutSec} s (killed with ${r.killedWith})`,
            r.stderr,
          )),
        };
      case "exited": {
        if (r.code === 0) {
          return r.stdout === "" ? { ok: true } : { ok: true, detail: _cut(r.stdout) };
        }
        const how = r.signal === null ? `exited with ${r.code}` : `was killed by ${r.signal}`;
        return { ok: false, detail: _cut(withTail(`${name} ${how}`, r.stderr || r.stdout)) };
      }
    }
  };
}

function _cut(text: string): string {
  return text.length <= _MAX_DETAIL ? text : `${text.slice(0, _MAX_DETAIL - 1)}…`;
}
