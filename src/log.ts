/**
 * Logging on LogTape: JSON lines (for `run`) or pretty text (for `dev`), one
 * category per area under `mandrill`, and implicit context (message id, host)
 * carried through async calls with {@linkcode withLogContext}, so every line
 * of one restart is found with one grep.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  configure,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  reset,
  type Sink,
  withContext,
} from "@logtape/logtape";

/** Output format of the log. */
export type LogFormat = "json" | "pretty";

/** Options of {@linkcode setupLogging}. */
export interface LogOptions {
  /** Lowest level written. Default: `"info"`. */
  level?: LogLevel;
  /** `"json"` lines or `"pretty"` text. Default: `"json"`. */
  format?: LogFormat;
  /** Where formatted lines go. Default: synchronous writes to stderr. */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function _stderrWrite(line: string): void {
  const bytes = encoder.encode(line);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

const prettyFormatter = getTextFormatter({
  timestamp: "time",
  category: ".",
  value: (v) => (typeof v === "string" ? v : Deno.inspect(v, { colors: false, depth: 4 })),
});
const jsonLines = getJsonLinesFormatter({ categorySeparator: ".", properties: "flatten" });

/** A value inside a sentence: strings as they are (not quoted), others as JSON. */
function _inSentence(v: unknown): string {
  if (typeof v === "string") return v;
  if (v instanceof Error) return v.message;
  if (v === undefined || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") {
    return String(v);
  }
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * JSON lines whose message reads as a sentence: `Listening on
 * http://127.0.0.1:9464/metrics`, not `http://"127.0.0.1":9464` (LogTape
 * renders values as JSON). The values stay typed in their own fields.
 */
function jsonFormatter(record: LogRecord): string {
  if (record.message.length === 1) return jsonLines(record);
  const message = record.message.map((part, i) => (i % 2 === 0 ? part : _inSentence(part)));
  return jsonLines({ ...record, message: [message.join("")] });
}

function _prettyWithContext(record: LogRecord): string {
  const line = prettyFormatter(record).trimEnd();
  const props = Object.entries(record.properties)
    .filter(([k]) => !record.rawMessage.toString().includes(`{${k}}`))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return props.length > 0 ? `${line} ${props.join(" ")}\n` : `${line}\n`;
}

/**
 * Configures LogTape for the process. Returns a handle whose disposal flushes
 * and resets logging; call once per process (tests may call it again).
 */
export async function setupLogging(options: LogOptions = {}): Promise<AsyncDisposable> {
  const write = options.write ?? _stderrWrite;
  const format = options.format === "pretty" ? _prettyWithContext : jsonFormatter;
  const sink: Sink = (record) => write(format(record));
  await configure({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: ["mandrill"], lowestLevel: options.level ?? "info", sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
    contextLocalStorage: new AsyncLocalStorage(),
  });
  return { [Symbol.asyncDispose]: () => reset() };
}

/** The logger of one area, e.g. `log("intake")` → category `mandrill.intake`. */
export function log(area: string): Logger {
  return getLogger(["mandrill", area]);
}

/**
 * Runs `fn` with `context` (e.g. `{ id, host }`) attached to every log line
 * written inside it, across awaits.
 */
export function withLogContext<T>(context: Record<string, unknown>, fn: () => T): T {
  return withContext(context, fn);
}

/** A short, loggable description of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
