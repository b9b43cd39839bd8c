/**
 * The executors of the config in force, each with how its hosts come back
 * (recovery mode, health check, boot-id probe), rebuilt on reload. Agent
 * executors of a previous config keep getting the results of the commands
 * they sent. Owns the spawner thread the command and ssh executors use.
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { AgentResult } from "../contract/messages.ts";
import { AgentExecutor, type AgentExecutorOptions } from "./agent.ts";
import { CommandExecutor } from "./command.ts";
import { Spawner } from "./_spawner.ts";
import { type BootIdResult, SshExecutor } from "./ssh.ts";
import type { ExecuteOutcome, ExecuteRequest, Executor } from "./types.ts";

/** One executor of the config, with what recovery tracking needs of it. */
export interface ExecutorEntry {
  /** Its config name. */
  name: string;
  type: "ssh" | "agent" | "command";
  executor: Executor;
  /** `boot`: back on a new boot id; `none`: the command's success is the end. */
  recovery: "boot" | "none";
  /** The executor's own time limit, s. */
  timeoutSec: number;
  /** Runs the health check of `host`, where one is configured. */
  healthCheck?: (host: string, signal: AbortSignal) => Promise<ExecuteOutcome>;
  /** SSH executors: reads the boot id and uptime of the request's target. */
  probe?: (req: ExecuteRequest, signal: AbortSignal) => Promise<BootIdResult>;
}

/** Options of {@linkcode ExecutorRegistry}. */
export interface ExecutorRegistryOptions {
  /** What agent executors are built with (connection, topics, fleet view, signer), besides their config. Required. */
  agent: Omit<AgentExecutorOptions, "timeoutSec" | "staleSec">;
  /** Executors that replace the configured ones, by name (tests). Default: none. */
  overrides?: ReadonlyMap<string, Executor>;
  /** Spawner threads for command and ssh executors. Default: 2. */
  spawnerThreads?: number;
}

/** The executors in force; see the module doc. */
export class ExecutorRegistry implements Disposable {
  readonly #o: ExecutorRegistryOptions;
  /** Starts the children of command and ssh executors off the main thread. */
  readonly #spawner: Spawner;
  #entries = new Map<string, ExecutorEntry>();
  #agents: AgentExecutor[] = [];

  /** Builds the executors of `config`. */
  constructor(config: Config, options: ExecutorRegistryOptions) {
    this.#o = options;
    this.#spawner = new Spawner({ threads: options.spawnerThreads ?? 2 });
    this.load(config);
  }

  /** Replaces the executors with those of `config` (a reload). */
  load(config: Config): void {
    const entries = new Map<string, ExecutorEntry>();
    const agents: AgentExecutor[] = [];
    for (const [name, c] of Object.entries(config.executors)) {
      const healthCheck = c.healthCheck === undefined ? undefined : _healthCheck(
        new CommandExecutor({ ...c.healthCheck, spawner: this.#spawner }),
        name,
      );
      const base = { name, type: c.type, recovery: c.recovery, timeoutSec: c.timeoutSec };
      const override = this.#o.overrides?.get(name);
      if (override) {
        // A test double of an ssh executor may bring its own boot-id probe.
        const probe = (override as Partial<Pick<SshExecutor, "probeBootId">>).probeBootId;
        entries.set(name, {
          ...base,
          executor: override,
          healthCheck,
          ...(c.type === "ssh" && probe ? { probe: probe.bind(override) } : {}),
        });
        continue;
      }
      switch (c.type) {
        case "command":
          entries.set(name, {
            ...base,
            healthCheck,
            executor: new CommandExecutor({ ...c, spawner: this.#spawner }),
          });
          break;
        case "ssh": {
          const ssh = new SshExecutor({ ...c, spawner: this.#spawner });
          entries.set(name, {
            ...base,
            healthCheck,
            executor: ssh,
            probe: (req, signal) => ssh.probeBootId(req, signal),
          });
          break;
        }
        case "agent": {
          const agent = new AgentExecutor({
            ...this.#o.agent,
            timeoutSec: c.timeoutSec,
            staleSec: c.staleSec,
          });
          agents.push(agent);
          entries.set(name, { ...base, healthCheck, executor: agent });
          break;
        }
      }
    }
    for (const [name, executor] of this.#o.overrides ?? []) {
      if (!entries.has(name)) {
        entries.set(name, { name, type: "command", executor, recovery: "none", timeoutSec: 30 });
      }
    }
    this.#entries = entries;
    this.#agents = [...this.#agents.filter((e) => e.pending > 0), ...agents];
  }

  /** The executor named `name`, if configured. */
  get(name: string): ExecutorEntry | undefined {
    return this.#entries.get(name);
  }

  /** Whether an executor named `name` is configured. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** Hands an agent's result to the agent executors (the one that sent the command takes it). */
  handleResult(host: string, result: AgentResult): void {
    for (const agent of this.#agents) agent.handleResult(host, result);
  }

  /** Stops the spawner's threads; children still running are killed and reported aborted. Call last. */
  [Symbol.dispose](): void {
    this.#spawner.close();
  }
}

function _healthCheck(executor: CommandExecutor, name: string) {
  return (host: string, signal: AbortSignal) =>
    executor.execute({ id: `health-${name}`, host }, signal);
}
