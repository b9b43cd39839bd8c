// deno-lint-ignore-file no-console
/**
 * The `mandrill` command line: parses the command name and hands the rest of
 * the arguments to that command. Commands live in `src/`; add one to COMMANDS.
 * @module
 */
import { configCommand } from "./src/config/cli.ts";
import { HISTORY_USAGE, historyCommand } from "./src/cli/history.ts";
import { RUN_USAGE, runCommand } from "./src/cli/run.ts";
import { STATUS_USAGE, statusCommand } from "./src/cli/status.ts";
import { AGENT_USAGE, agentCommand } from "./src/cli/agent.ts";
import { DEV_USAGE, devCommand } from "./src/cli/dev.ts";
import { PAUSE_USAGE, pauseCommand, RESUME_USAGE, resumeCommand } from "./src/cli/control.ts";
import { VERSION } from "./src/version.ts";
import { KEYGEN_USAGE, keygenCommand } from "./src/cli/keygen.ts";
import { STORE_USAGE, storeCommand } from "./src/cli/store.ts";
import { BROKER_USAGE, brokerCommand } from "./src/cli/broker.ts";

/** One `mandrill <name>` command. */
export interface Command {
  /** One line for the command list of `mandrill --help`. */
  summary: string;
  /** Full help text, shown by `mandrill help <name>` and on usage errors. */
  usage: string;
  /** Runs the command with the arguments after its name; resolves to the exit status. */
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  run: { summary: "Run the restart controller", usage: RUN_USAGE, run: runCommand },
  dev: {
    summary: "Run broker, simulated fleet and controller locally",
    usage: DEV_USAGE,
    run: devCommand,
  },
  agent: { summary: "Run the agent on a fleet host", usage: AGENT_USAGE, run: agentCommand },
  status: {
    summary: "Show the running instance's status",
    usage: STATUS_USAGE,
    run: (a) => statusCommand(a),
  },
  history: {
    summary: "Show what happened to each request",
    usage: HISTORY_USAGE,
    run: historyCommand,
  },
  pause: {
    summary: "Pause all new restarts (the kill switch)",
    usage: PAUSE_USAGE,
    run: (a) => pauseCommand(a),
  },
  resume: {
    summary: "Resume restarts after a pause",
    usage: RESUME_USAGE,
    run: (a) => resumeCommand(a),
  },
  keygen: {
    summary: "Write the key pair that signs agent commands and control",
    usage: KEYGEN_USAGE,
    run: keygenCommand,
  },
  store: {
    summary: "Move an SQLite store to PostgreSQL (store migrate)",
    usage: STORE_USAGE,
    run: storeCommand,
  },
  broker: {
    summary: "Print the broker's access control for this deployment (broker acl)",
    usage: BROKER_USAGE,
    run: brokerCommand,
  },
  config: configCommand,
  version: {
    summary: "Print the version",
    usage: "Usage: mandrill version",
    run: (args) => {
      if (args.length > 0) return Promise.resolve(_usageError(`unexpected argument "${args[0]}"`));
      console.log(`mandrill ${VERSION}`);
      return Promise.resolve(0);
    },
  },
  help: {
    summary: "Show help for mandrill or one of its commands",
    usage: "Usage: mandrill help [COMMAND]",
    run: (args) => Promise.resolve(_help(args)),
  },
};

function _usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, command]) =>
    `  ${name.padEnd(width)}  ${command.summary}`
  );
  return [
    "mandrill: fleet restart controller over MQTT",
    "",
    "Usage: mandrill <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    'Options: -h, --help (help), --version (version). Run "mandrill help <command>" for details.',
  ].join("\n");
}

function _usageError(message: string): number {
  console.error(`mandrill: ${message}\n\n${_usage()}`);
  return 2;
}

function _help(args: string[]): number {
  if (args.length === 0) {
    console.log(_usage());
    return 0;
  }
  const command = args.length === 1 ? COMMANDS[args[0]!] : undefined;
  if (command === undefined) return _usageError(`no help for "${args.join(" ")}"`);
  console.log(command.usage);
  return 0;
}

/** Runs `mandrill` with `args` (without the program name); resolves to the exit status. */
export function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) return Promise.resolve(_usageError("missing command"));
  if (name === "-h" || name === "--help") return Promise.resolve(_help([]));
  if (name === "--version" || name === "-V") return COMMANDS.version!.run([]);
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) return Promise.resolve(_usageError(`unknown command "${name}"`));
  return command.run(rest);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
