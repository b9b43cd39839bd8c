/**
 * The `command` executor: restarts a host by running a local program with the
 * host name as its last argument, with no shell in between.
 * @module
 */
import { isValidHost, isValidId } from "../contract/ids.ts";
import { programName, reasonText, runProcess, withTail } from "./_run.ts";
import type { Spawner } from "./_spawner.ts";
import {
  effectiveTimeoutMs,
  type ExecuteOutcome,
  type ExecuteRequest,
  type Executor,
} from "./types.ts";

/** Options of {@linkcode CommandExecutor}. */
export interface CommandExecutorOptions {
  /** Program and leading arguments; the host name is appended. Required, non-empty. */
  argv: string[];
  /** Overall time limit in seconds; the process tree is then terminated. Required, > 0. */
  timeoutSec: number;
  /** Starts the children on this spawner's worker thread. Default: none, spawned from the calling thread. */
  spawner?: Spawner;
}

/** Name of the environment variable that carries the request id to the child. */
export const REQUEST_ID_ENV = "MANDRILL_REQUEST_ID";

/**
 * Runs `argv` plus the host name as a child process (never through a shell).
 *
 * Exit 0 is `ok` (detail: the tail of stdout), any other exit is `exit` with the
 * tail of stderr, a missing program is `exit` 127. The child sees the request id
 * in `MANDRILL_REQUEST_ID`. Hosts that are not RFC 1123 names are `rejected`
 * without spawning anything.
 *
 * @example
 * ```ts
 * const executor = new CommandExecutor({ argv: ["/usr/local/bin/restart-host"], timeoutSec: 30 });
 * const outcome = await executor.execute({ id: "r-1", host: "web-1" });
 * ```
 */
export class CommandExecutor implements Executor {
  readonly #argv: readonly string[];
  readonly #timeoutSec: number;
  readonly #spawner: Spawner | undefined;

  /** Checks the options; throws `TypeError`/`RangeError` on bad ones. */
  constructor(options: CommandExecutorOptions) {
    const { argv, timeoutSec } = options;
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
      throw new TypeError("CommandExecutor argv must be a non-empty array of strings");
    }
    if (argv[0] === "") throw new TypeError("CommandExecutor argv[0] must name a program");
    if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) {
      throw new RangeError(`CommandExecutor timeoutSec must be > 0, got ${timeoutSec}`);
    }
    this.#argv = [...argv];
    this.#timeoutSec = timeoutSec;
    this.#spawner = options.spawner;
  }

  /** Runs the command for `req.host`; resolves with the outcome, never throws for expected failures. */
  async execute(req: ExecuteRequest, signal?: AbortSignal): Promise<ExecuteOutcome> {
    if (!isValidHost(req.host)) {
      return {
        kind: "rejected",
        detail: `refusing to run a command for invalid host name ${JSON.stringify(req.host)}`,
      };
    }
    if (!isValidId(req.id)) {
      return {
        kind: "rejected",
        detail: `refusing to run a command for invalid request id ${JSON.stringify(req.id)}`,
      };
    }
    const [program, ...args] = this.#argv as [string, ...string[]];
    const name = programName(program);
    const timeoutMs = effectiveTimeoutMs(req, this.#timeoutSec);
    const result = await runProcess(program, {
      args: [...args, req.host],
      env: { [REQUEST_ID_ENV]: req.id },
      timeoutMs,
      signal,
      spawner: this.#spawner,
    });
    switch (result.kind) {
      case "spawn-error":
        return { kind: "exit", code: result.code, detail: result.message };
      case "aborted":
        return {
          kind: "aborted",
          detail: `${name} for ${req.host} aborted: ${reasonText(result.reason)}`,
        };
      case "timeout":
        return {
          kind: "timeout",
          detail: withTail(
            `${name} for ${req.host} did not finish within ${timeoutMs / 1000} s ` +
              `(killed with ${result.killedWith})`,
            result.stderr,
          ),
        };
      case "exited": {
        if (result.code === 0) {
          return result.stdout === "" ? { kind: "ok" } : { kind: "ok", detail: result.stdout };
        }
        const how = result.signal === null
          ? `exited with ${result.code}`
          : `was killed by ${result.signal}`;
        return {
          kind: "exit",
          code: result.code,
          detail: withTail(`${name} for ${req.host} ${how}`, result.stderr || result.stdout),
        };
      }
    }
  }
}
