/**
 * Executors: how hosts get restarted (local command, SSH, the host's agent).
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { Spawner } from "./_spawner.ts";
import { CommandExecutor } from "./command.ts";
import { SshExecutor } from "./ssh.ts";
import type { Executor } from "./types.ts";

export * from "./types.ts";
export { CommandExecutor } from "./command.ts";
export { SshExecutor } from "./ssh.ts";
export { Spawner } from "./_spawner.ts";

/** Config of one executor entry. */
export type ExecutorConfig = Config["executors"][string];

/** Options of {@linkcode buildExecutors}. */
export interface BuildExecutorsOptions {
  /** Builds `agent` executors (they need the MQTT connection and fleet view). Default: none, an error if one is configured. */
  agent?: (config: Extract<ExecutorConfig, { type: "agent" }>) => Executor;
  /** Starts the children of `command` and `ssh` executors on its worker thread. Default: none, spawned from the calling thread. */
  spawner?: Spawner;
}

/** Builds every configured executor, by name. */
export function buildExecutors(
  config: Config["executors"],
  options: BuildExecutorsOptions = {},
): Map<string, Executor> {
  const out = new Map<string, Executor>();
  for (const [name, c] of Object.entries(config)) {
    switch (c.type) {
      case "command":
        out.set(
          name,
          new CommandExecutor({ argv: c.argv, timeoutSec: c.timeoutSec, spawner: options.spawner }),
        );
        break;
      case "ssh":
        out.set(name, new SshExecutor({ ...c, spawner: options.spawner }));
        break;
      case "agent":
        if (!options.agent) {
          throw new TypeError(
            `Cannot build executor ${name}: agent executors need an MQTT connection`,
          );
        }
        out.set(name, options.agent(c));
        break;
    }
  }
  return out;
}
