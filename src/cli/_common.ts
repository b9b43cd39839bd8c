// deno-lint-ignore-file no-console
/**
 * What every `mandrill` command does the same way: parse its flags (with
 * `-h/--help` and a required `--config`), print usage on a usage error (exit 2),
 * and load a config file, listing every problem on failure (exit 1).
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "../config/mod.ts";
import { errorMessage } from "../log.ts";

/** A flag of a command: a string or a boolean, with an optional short form. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
}

/** Parsed flag values: strings for string flags, booleans for boolean ones. */
export type FlagValues<T extends Record<string, FlagSpec>> = {
  [K in keyof T]?: T[K]["type"] extends "string" ? string : boolean;
};

/** Options of {@linkcode parseCommand}. */
export interface ParseCommandOptions {
  /** `--config FILE` must be given. Default: true. */
  requireConfig?: boolean;
}

/**
 * Parses `args` for `mandrill <command>`. Returns the flag values, or the exit
 * status when the command should stop here (0 after `--help`, 2 after a usage error).
 */
export function parseCommand<T extends Record<string, FlagSpec>>(
  command: string,
  spec: { usage: string; flags: T; args: string[] },
  options: ParseCommandOptions = {},
): FlagValues<T> | number {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: spec.args,
      options: { ...spec.flags, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return usageError(command, spec.usage, errorMessage(err));
  }
  if (values.help) {
    console.log(spec.usage);
    return 0;
  }
  if ((options.requireConfig ?? true) && !values.config) {
    return usageError(command, spec.usage, "--config FILE is required");
  }
  return values as FlagValues<T>;
}

/** Prints a usage error for `mandrill <command>` and returns exit status 2. */
export function usageError(command: string, usage: string, message: string): number {
  console.error(`mandrill ${command}: ${message}\n\n${usage}`);
  return 2;
}

/** Loads a config with `load`; on a ConfigError prints every problem and returns exit status 1. */
export async function loadOrReport<T>(load: () => Promise<T>): Promise<T | { exit: number }> {
  try {
    return await load();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return { exit: 1 };
    }
    throw err;
  }
}

/** True when debug mode is asked for by flag or by `MANDRILL_DEBUG=1`. */
export function debugRequested(flag: boolean | undefined): boolean {
  return flag === true || Deno.env.get("MANDRILL_DEBUG") === "1";
}
