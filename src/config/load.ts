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
    text = _decodeUtf8(await _readBounded(path, signal));
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const reason = error instanceof Deno.errors.NotFound
      ? "file not found"
      : error instanceof _Refused
      ? error.message
      : `cannot read the file: ${error instanceof Error ? error.message : String(error)}`;
    throw new ConfigError([{ path: "", message: reason }], { file: path, cause: error });
  }
  // JSON.parse copes with any depth, but the checks after it recurse.
  const tooDeep = _tooDeep(text);
  if (tooDeep !== undefined) {
    throw new ConfigError([{ path: "", message: tooDeep }], { file: path });
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
      if (!value.includes("${")) return;
      for (const match of value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) names.add(match[1]!);
    } else if (typeof value === "object" && value !== null) {
      Object.values(value).forEach(visit);
    }
  };
  visit(json);
  return Object.fromEntries([...names].map((name) => [name, Deno.env.get(name)]));
}

/** Largest config file read: a bigger one is a mistake (or `/dev/zero`), not a config. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** Deepest nesting of objects and arrays accepted (a config needs about 6). */
export const MAX_CONFIG_DEPTH = 64;

/** A file refused before parsing, with why (too large, not a regular file, not UTF-8). */
class _Refused extends Error {}

/** The bytes of a regular file of at most MAX_CONFIG_BYTES (however large it claims to be). */
async function _readBounded(path: string, signal?: AbortSignal): Promise<Uint8Array> {
  // Looked at before opening: opening a FIFO would wait for a writer.
  const info = await Deno.stat(path);
  if (!info.isFile) {
    throw new _Refused(
      info.isDirectory
        ? "is a directory, not a file"
        : "is not a regular file (a device, a pipe or a socket)",
    );
  }
  const tooLarge = () =>
    new _Refused(`is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB: not a config file`);
  if (info.size > MAX_CONFIG_BYTES) throw tooLarge();
  using file = await Deno.open(path, { read: true });
  // One buffer of the size the file says, plus a byte to see it grew (or is
  // a /proc file that says 0, whose sysctls answer only a first read): a
  // 100,000-host config is read without copies.
  let buf = new Uint8Array(Math.max(info.size + 1, 64 * 1024));
  let total = 0;
  while (true) {
    signal?.throwIfAborted();
    if (total === buf.length) {
      if (total > MAX_CONFIG_BYTES) throw tooLarge();
      const bigger = new Uint8Array(Math.min(buf.length * 2 + 4096, MAX_CONFIG_BYTES + 1));
      bigger.set(buf);
      buf = bigger;
    }
    const n = await file.read(buf.subarray(total));
    if (n === null) break;
    total += n;
  }
  if (total > MAX_CONFIG_BYTES) throw tooLarge();
  return buf.subarray(0, total);
}

/** Strict UTF-8 (a leading BOM dropped); invalid bytes are an error naming their offset, never replaced. */
function _decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = _firstInvalidUtf8(bytes);
    const byte = bytes[at]?.toString(16).padStart(2, "0") ?? "(end)";
    throw new _Refused(`is not valid UTF-8: byte 0x${byte} at offset ${at}`);
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function _firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const len = c < 0x80
      ? 1
      : c >= 0xc2 && c <= 0xdf
      ? 2
      : c >= 0xe0 && c <= 0xef
      ? 3
      : c >= 0xf0 && c <= 0xf4
      ? 4
      : 0;
    if (len === 0) return i;
    for (let k = 1; k < len; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
    }
    // Overlong forms, surrogates, and code points above U+10FFFF.
    const c1 = b[i + 1] ?? 0;
    if (
      (c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) ||
      (c === 0xf4 && c1 > 0x8f)
    ) return i;
    i += len;
  }
  return b.length;
}

/** Why `text` nests deeper than MAX_CONFIG_DEPTH (with the line), or undefined. */
function _tooDeep(text: string): string | undefined {
  let depth = 0;
  let line = 1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10) line++;
    if (inString) {
      if (ch === 92) i++; // a backslash: skip the escaped character
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) {
      if (++depth > MAX_CONFIG_DEPTH) {
        return `nested deeper than ${MAX_CONFIG_DEPTH} levels (at line ${line}): not a config file`;
      }
    } else if (ch === 125 || ch === 93) depth--;
  }
  return undefined;
}
