/**
 * Reading a config file from disk: the thin I/O edge around {@linkcode parseConfig}.
 * @module
 */
import type { AgentConfig } from "./agent_schema.ts";
import { ConfigError } from "./error.ts";
import { parseAgentConfig, parseConfig } from "./parse.ts";
import type { Config } from "./schema.ts";

/** Options of {@linkcode loadConfig} and {@linkcode loadAgentConfig}. */
export interface LoadConfigOptions {
  /**
   * Variables for `${NAME}` expansion. Default: the process environment (only
   * the variables the file refers to are read).
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Aborts reading the file. Default: none. */
  signal?: AbortSignal;
}

/**
 * Reads and validates `mandrill run`'s config file.
 * @throws {ConfigError} when the file cannot be read, is not JSON, or is not a valid config.
 */
export async function loadConfig(path: string, options: LoadConfigOptions = {}): Promise<Config> {
  const json = await readJsonFile(path, options.signal);
  return parseConfig(json, { file: path, env: options.env ?? _processEnv(json) });
}

/**
 * Reads and validates `mandrill agent`'s config file.
 * @throws {ConfigError} when the file cannot be read, is not JSON, or is not a valid config.
 */
export async function loadAgentConfig(
  path: string,
  options: LoadConfigOptions = {},
): Promise<AgentConfig> {
  const json = await readJsonFile(path, options.signal);
  return parseAgentConfig(json, { file: path, env: options.env ?? _processEnv(json) });
}

/**
 * Reads and parses a JSON file.
 * @throws {ConfigError} naming the file (and the line and column of a syntax error).
 */
export async function readJsonFile(path: string, signal?: AbortSignal): Promise<unknown> {
  signal?.throwIfAborted();
  let text: string;
  try {
    text = await Deno.readTextFile(path, { signal });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const reason = error instanceof Deno.errors.NotFound
      ? "file not found"
      : `cannot read the file: ${error instanceof Error ? error.message : String(error)}`;
    throw new ConfigError([{ path: "", message: reason }], { file: path, cause: error });
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError([{ path: "", message: describeJsonError(message, text) }], {
      file: path,
      cause: error,
    });
  }
}

/**
 * A JSON.parse error message reworded with the line and column first:
 * `invalid JSON at line 3, column 6: Expected ':' after property name`.
 */
export function describeJsonError(message: string, text: string): string {
  const located = /^(.*?)(?: in JSON)? at position \d+ \(line (\d+) column (\d+)\)$/.exec(message);
  if (located) return `invalid JSON at line ${located[2]}, column ${located[3]}: ${located[1]}`;
  if (message === "Unexpected end of JSON input") {
    const lines = text.split("\n");
    const column = lines.at(-1)!.length + 1;
    return `invalid JSON at line ${lines.length}, column ${column}: unexpected end of input`;
  }
  return `invalid JSON: ${message}`;
}

// The process environment, reduced to the variables `json` mentions, so only
// those need --allow-env.
function _processEnv(json: unknown): Record<string, string | undefined> {
  const names = new Set<string>();
  const visit = (value: unknown): void => {
    if (typeof value === "string") {
      for (const match of value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) names.add(match[1]!);
    } else if (typeof value === "object" && value !== null) {
      Object.values(value).forEach(visit);
    }
  };
  visit(json);
  return Object.fromEntries([...names].map((name) => [name, Deno.env.get(name)]));
}
