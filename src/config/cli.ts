// deno-lint-ignore-file no-console
/**
 * `mandrill config check` and `mandrill config schema`.
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "./error.ts";
import { configJsonSchemaText } from "./json_schema.ts";
import { loadAgentConfig, loadConfig } from "./load.ts";
import { unreadableFiles } from "./files.ts";

const CHECK_USAGE = `Usage: mandrill config check [--agent] [--no-files] FILE

Validates a config file and lists every problem found, one per line,
including the files it names (TLS, SSH identities, signing keys) that
cannot be read here: \`run\` and \`agent\` stop at start on those (exit 78).
Exit status: 0 valid, 1 invalid, 2 usage error.

Options:
  --agent     FILE is the config of \`mandrill agent\`
  --no-files  Do not check the files it names (checking on another machine)
  -h, --help  Show this help`;

const SCHEMA_USAGE = `Usage: mandrill config schema [--output FILE]

Prints the JSON Schema of the config file (for editors: "$schema").

Options:
  -o, --output FILE  Write the schema to FILE instead of standard output
  -h, --help         Show this help`;

const CONFIG_USAGE = `Usage: mandrill config <check|schema> ...

Commands:
  check FILE   Validate a config file and list every problem
  schema       Print the JSON Schema of the config file

Run "mandrill config <command> --help" for details.`;

/** A usage error: the message is shown with the usage text and the exit status is 2. */
class _UsageError extends Error {}

// parseArgs throws a TypeError for unknown or malformed options: a usage error.
function _parseArgs<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new _UsageError(message.split(". To specify a positional")[0]!);
  }
}

async function _check(args: string[]): Promise<number> {
  const { values, positionals } = _parseArgs(() =>
    parseArgs({
      args,
      allowPositionals: true,
      options: {
        agent: { type: "boolean" },
        "no-files": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    })
  );
  if (values.help) {
    console.log(CHECK_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new _UsageError(positionals.length === 0 ? "missing FILE" : "expected exactly one FILE");
  }
  const file = positionals[0]!;
  let config;
  try {
    config = await (values.agent ? loadAgentConfig(file) : loadConfig(file));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return 1;
  }
  // Valid, but naming files that are not there: `run` would stop at start (exit 78).
  const unreadable = values["no-files"] ? [] : await unreadableFiles(config);
  if (unreadable.length > 0) {
    for (const f of unreadable) console.error(`${file}: ${f.key}: cannot read ${f.file}: ${f.why}`);
    return 1;
  }
  console.log(`${file}: ok`);
  return 0;
}

async function _schema(args: string[]): Promise<number> {
  const { values, positionals } = _parseArgs(() =>
    parseArgs({
      args,
      allowPositionals: true,
      options: { output: { type: "string", short: "o" }, help: { type: "boolean", short: "h" } },
    })
  );
  if (values.help) {
    console.log(SCHEMA_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new _UsageError(`unexpected argument "${positionals[0]}"`);
  const text = configJsonSchemaText();
  if (values.output === undefined) await Deno.stdout.write(new TextEncoder().encode(text));
  else await Deno.writeTextFile(values.output, text);
  return 0;
}

const SUBCOMMANDS: Record<string, { usage: string; run(args: string[]): Promise<number> }> = {
  check: { usage: CHECK_USAGE, run: _check },
  schema: { usage: SCHEMA_USAGE, run: _schema },
};

/** The `mandrill config` command: `check` and `schema`. */
export const configCommand = {
  summary: "Check a config file, or print its JSON Schema",
  usage: CONFIG_USAGE,
  async run(args: string[]): Promise<number> {
    const [name, ...rest] = args;
    if (name === "-h" || name === "--help" || name === "help") {
      console.log(CONFIG_USAGE);
      return 0;
    }
    const subcommand = name === undefined ? undefined : SUBCOMMANDS[name];
    if (subcommand === undefined) {
      console.error(
        name === undefined
          ? "mandrill config: missing command"
          : `mandrill config: unknown command "${name}"`,
      );
      console.error(`\n${CONFIG_USAGE}`);
      return 2;
    }
    try {
      return await subcommand.run(rest);
    } catch (error) {
      if (!(error instanceof _UsageError)) throw error;
      console.error(`mandrill config ${name}: ${error.message}\n\n${subcommand.usage}`);
      return 2;
    }
  },
};
