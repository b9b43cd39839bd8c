/**
 * The agent's durable memory of the command ids it has handled, so a
 * redelivered command (after a crash, a reconnect or the reboot it caused)
 * never runs twice. Bounded to the most recent ids; every change is written
 * synchronously and atomically (temp file, fsync, rename) before it counts.
 * @module
 */
import { z } from "zod";
import { idSchema } from "../contract/ids.ts";

/** One handled command. */
export interface LedgerEntry {
  id: string;
  /** `started` until its result is known; a `started` entry found at start-up was interrupted. */
  state: "started" | "done";
  /** Boot id of the host when the command started: tells whether an interrupted restart happened. */
  bootId: string;
  /** When it started, ms since the epoch. */
  startedAt: number;
  /** The result sent back, once done. */
  ok?: boolean;
  detail?: string;
}

/** Options of {@linkcode CommandLedger.open}. */
export interface CommandLedgerOptions {
  /** Most ids remembered; the oldest are forgotten first. Default: 1000. */
  maxEntries?: number;
}

const _entrySchema = z.object({
  id: idSchema,
  state: z.enum(["started", "done"]),
  bootId: z.string(),
  startedAt: z.number(),
  ok: z.boolean().optional(),
  detail: z.string().optional(),
});
const _fileSchema = z.object({ version: z.literal(1), commands: z.array(_entrySchema) });

/**
 * The state file of `mandrill agent`.
 *
 * @example
 * ```ts
 * const ledger = CommandLedger.open("/var/lib/mandrill/agent.json");
 * if (ledger.get(cmd.id) === undefined) {
 *   ledger.begin(cmd.id, bootId, Date.now()); // durable before anything runs
 *   const result = await run(cmd);
 *   ledger.finish(cmd.id, result);
 * }
 * ```
 */
export class CommandLedger {
  readonly path: string;
  readonly #max: number;
  readonly #entries: Map<string, LedgerEntry>;

  private constructor(path: string, max: number, entries: LedgerEntry[]) {
    this.path = path;
    this.#max = max;
    this.#entries = new Map(entries.slice(-max).map((e) => [e.id, e]));
  }

  /**
   * Loads the state file (a missing file is an empty ledger).
   * @throws {Error} naming the file when it cannot be read or is not a valid state file:
   * starting with an empty memory could run a command twice, so the agent refuses.
   */
  static open(path: string, options: CommandLedgerOptions = {}): CommandLedger {
    const { maxEntries = 1000 } = options;
    if (!(Number.isInteger(maxEntries) && maxEntries >= 1)) {
      throw new RangeError(`CommandLedger maxEntries must be an integer >= 1, got ${maxEntries}`);
    }
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return new CommandLedger(path, maxEntries, []);
      throw new Error(`Cannot read the state file ${path}: ${_message(err)}`, { cause: err });
    }
    let parsed;
    try {
      parsed = _fileSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new Error(
        `Cannot use the state file ${path}: it is not a valid mandrill agent state file ` +
          `(${_message(err).slice(0, 200)}); move it away to start with an empty memory`,
        { cause: err },
      );
    }
    return new CommandLedger(path, maxEntries, parsed.commands);
  }

  /** Number of ids remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry of `id`, if it was handled. */
  get(id: string): Readonly<LedgerEntry> | undefined {
    return this.#entries.get(id);
  }

  /** Entries still `started`: at start-up, commands a crash or reboot interrupted. */
  unfinished(): Readonly<LedgerEntry>[] {
    return [...this.#entries.values()].filter((e) => e.state === "started");
  }

  /**
   * Records `id` as started, durably, forgetting the oldest id beyond
   * `maxEntries`. Throws `TypeError` if `id` is known; rethrows write errors,
   * leaving the ledger as it was.
   */
  begin(id: string, bootId: string, now: number): void {
    if (this.#entries.has(id)) throw new TypeError(`Command ${id} is already in the ledger`);
    const entry: LedgerEntry = { id, state: "started", bootId, startedAt: now };
    const next = [...this.#entries.values(), entry].slice(-this.#max);
    this.#write(next);
    this.#entries.set(id, entry);
    while (this.#entries.size > this.#max) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  /** Records the result of a started command, durably. Rethrows write errors (the memory keeps it). */
  finish(id: string, result: { ok: boolean; detail?: string }): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new TypeError(`Command ${id} is not in the ledger`);
    entry.state = "done";
    entry.ok = result.ok;
    if (result.detail !== undefined) entry.detail = result.detail;
    this.#write([...this.#entries.values()]);
  }

  #write(entries: LedgerEntry[]): void {
    const text = JSON.stringify({ version: 1, commands: entries });
    _writeAtomically(this.path, new TextEncoder().encode(text));
  }
}

/** Writes `data` to a temp file next to `path`, fsyncs it, renames it over `path`, fsyncs the directory. */
function _writeAtomically(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp-${Deno.pid}`;
  const file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    let off = 0;
    while (off < data.length) off += file.writeSync(data.subarray(off));
    file.syncSync();
  } catch (err) {
    file.close();
    try {
      Deno.removeSync(tmp);
    } catch { /* nothing to clean */ }
    throw err;
  }
  file.close();
  Deno.renameSync(tmp, path);
  // Make the rename itself durable; not every platform lets a directory be synced.
  const slash = path.lastIndexOf("/");
  try {
    const dir = Deno.openSync(slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".");
    try {
      dir.syncSync();
    } finally {
      dir.close();
    }
  } catch { /* best effort */ }
}

function _message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
