/**
 * `mandrill agent`, which runs on each fleet host: the agent itself, its
 * command desk and durable command ledger, how it reads procfs, and how it
 * restarts the host.
 * @module
 */
export { Agent, type AgentConnector, type AgentLink, type AgentOptions } from "./agent.ts";
export { CommandDesk, type CommandDeskOptions } from "./commands.ts";
export { CommandLedger, type CommandLedgerOptions, type LedgerEntry } from "./ledger.ts";
export { type ProcReadOptions, readBootId, readUptimeSec } from "./proc.ts";
export {
  commandRunner,
  type CommandRunnerOptions,
  type RestartResult,
  type RestartRunner,
} from "./runner.ts";
