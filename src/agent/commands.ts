/**
 * The agent's command desk: validates each restart command, runs each id at
 * most once (recorded in the ledger before anything runs), one at a time,
 * and hands back the result to send.
 * @module
 */
import { deadline, DeadlineError } from "../async/mod.ts";
import type { Clock } from "../clock.ts";
import { type AgentCommand, agentCommandSchema, type AgentResult } from "../contract/messages.ts";
import { errorMessage, log, withLogContext } from "../log.ts";
import type { CommandCheck, RefusalReason } from "../security/mod.ts";
import type { CommandLedger } from "./ledger.ts";
import type { RestartResult, RestartRunner } from "./runner.ts";

/** Options of {@linkcode CommandDesk}. */
export interface CommandDeskOptions {
  /** Remembers handled ids durably. Required. */
  ledger: CommandLedger;
  /** Carries out a command. Required. */
  runner: RestartRunner;
  /** This host's current boot id, stored with each command. Required. */
  bootId: string;
  /** This host's name, for log context. Required. */
  host: string;
  /** Time source for the ledger. Required. */
  clock: Clock;
  /** Sends a result to `{p}/agents/{host}/results`; must not throw. Required. */
  send: (result: AgentResult) => void;
  /**
   * Whether a command may run (its signature, host, validity), checked before
   * anything else — the ledger included. Required.
   */
  check: (command: AgentCommand) => Promise<CommandCheck>;
}

/**
 * Handles the commands of `{p}/agents/{host}/commands`.
 *
 * - Invalid payloads are logged and dropped.
 * - A command that fails its check (unsigned, badly signed, for another
 *   host, expired, issued in the future) runs nothing and touches nothing:
 *   not the ledger, and no stored result is sent for it. It is logged at
 *   WARN with why, and counted.
 * - A known id is not run again: its stored result is sent again, or
 *   nothing if it is still running (its result follows).
 * - A new id is written to the ledger synchronously, before the caller's
 *   PUBACK and before anything runs; if that write fails it is not run.
 * - After {@linkcode CommandDesk.close}, commands are answered
 *   `agent is shutting down` and not run.
 */
export class CommandDesk {
  readonly #o: CommandDeskOptions;
  readonly #running = new Set<string>();
  readonly #refused = new Map<RefusalReason, number>();
  readonly #abort = new AbortController();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  /** See {@linkcode CommandDeskOptions}. */
  constructor(options: CommandDeskOptions) {
    this.#o = options;
  }

  /** Ids of the commands running or queued. */
  get running(): ReadonlySet<string> {
    return this.#running;
  }

  /**
   * Reports the commands a previous run left `started` (a crash, or the reboot
   * itself): `ok` if the boot id changed since, else interrupted. Call once at start.
   */
  settleUnfinished(): AgentResult[] {
    return this.#o.ledger.unfinished().map((e) => {
      const result: RestartResult = e.bootId !== this.#o.bootId
        ? { ok: true, detail: "the host rebooted while the restart command ran (new boot id)" }
        : { ok: false, detail: "interrupted: the agent stopped before the restart command ended" };
      this.#o.ledger.finish(e.id, result);
      return { id: e.id, ...result };
    });
  }

  /** Commands refused so far, by why. */
  get refused(): ReadonlyMap<RefusalReason, number> {
    return this.#refused;
  }

  /**
   * Handles one raw payload: checks it, then — synchronously after the check —
   * records a new id in the ledger before anything runs. Resolves once that
   * is done (the caller's PUBACK waits for it).
   */
  async handle(payload: Uint8Array): Promise<void> {
    const command = _parse(payload);
    if (command === undefined) return;
    const check = await this.#o.check(command);
    if (!check.ok) {
      const n = (this.#refused.get(check.reason) ?? 0) + 1;
      this.#refused.set(check.reason, n);
      const total = [...this.#refused.values()].reduce((a, b) => a + b, 0);
      log("agent").warn(
        "Refusing command {id}: {detail} ({reason}); nothing run ({total} refused so far)",
        {
          id: command.id,
          detail: check.detail,
          reason: check.reason,
          total,
        },
      );
      return;
    }
    this.#accept(command);
  }

  #accept(command: AgentCommand): void {
    const { id } = command;
    const { ledger, send } = this.#o;
    const logger = log("agent");
    if (this.#closed) {
      logger.warn("Refusing command {id}: the agent is shutting down", { id });
      send({ id, ok: false, detail: "agent is shutting down" });
      return;
    }
    const known = ledger.get(id);
    if (known !== undefined) {
      if (this.#running.has(id)) {
        logger.info("Command {id} is already running; its result will follow", { id });
        return;
      }
      logger.info("Command {id} was already handled: sending its result again", { id });
      send(
        known.state === "done"
          ? { id, ok: known.ok ?? false, ...(known.detail ? { detail: known.detail } : {}) }
          : { id, ok: false, detail: "already handled" },
      );
      return;
    }
    try {
      ledger.begin(id, this.#o.bootId, this.#o.clock.now());
    } catch (err) {
      // Not remembered means not safe to run: a redelivery could run it twice.
      logger.error("Cannot record command {id} in {file}, not running it: {error}", {
        id,
        file: ledger.path,
        error: errorMessage(err),
      });
      send({ id, ok: false, detail: `cannot record the command: ${errorMessage(err)}` });
      return;
    }
    this.#running.add(id);
    this.#queue = this.#queue.then(() =>
      withLogContext({ id, host: this.#o.host }, () => this.#execute(command))
    );
  }

  /** Refuses every later command. */
  close(): void {
    this.#closed = true;
  }

  /**
   * Closes, then waits for running and queued commands; after `graceMs` they
   * are aborted (their results, `ok: false`, are still sent) and waited for.
   */
  async drain(graceMs: number): Promise<void> {
    this.close();
    if (this.#running.size === 0) return;
    log("agent").info("Waiting up to {ms} ms for {n} restart command(s)", {
      ms: graceMs,
      n: this.#running.size,
    });
    try {
      await deadline(this.#queue, graceMs);
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err;
      log("agent").warn("Grace period over: aborting the restart command");
      this.#abort.abort(new Error("agent shutting down"));
      await this.#queue;
    }
  }

  async #execute(command: AgentCommand): Promise<void> {
    const logger = log("agent");
    let result: RestartResult;
    try {
      logger.info("Running the restart command for {id} (reason: {reason})", {
        id: command.id,
        reason: command.reason ?? "none given",
      });
      result = await this.#o.runner(command, this.#abort.signal);
    } catch (err) {
      result = { ok: false, detail: `restart command failed: ${errorMessage(err)}` };
    }
    try {
      this.#o.ledger.finish(command.id, result);
    } catch (err) {
      logger.error("Cannot record the result of {id}: {error}", {
        id: command.id,
        error: errorMessage(err),
      });
    }
    this.#running.delete(command.id);
    logger.info("Restart command for {id} finished: ok {ok}", { id: command.id, ok: result.ok });
    this.#o.send({ id: command.id, ...result });
  }
}

/** The validated command in `payload`, or undefined (logged). */
function _parse(payload: Uint8Array): AgentCommand | undefined {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    log("agent").warn("Ignoring a command that is not JSON ({bytes} bytes)", {
      bytes: payload.length,
    });
    return undefined;
  }
  const parsed = agentCommandSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    log("agent").warn("Ignoring invalid command: {issues}", { issues: issues.join("; ") });
    return undefined;
  }
  return parsed.data;
}
