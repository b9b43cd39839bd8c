/**
 * Opening the store a config names: SQLite at `store.path`.
 * @module
 */
import type { Config } from "../config/mod.ts";
import { EXIT, StartupError } from "../errors.ts";
import { errorMessage } from "../log.ts";
import { SqliteStore, StoreInUseError } from "./sqlite.ts";
import type { Store } from "./types.ts";

/** Options of {@linkcode openStore}. */
export interface OpenStoreOptions {
  /** Only to read (`mandrill history`): no claim on the store, while a mandrill may run on it. Default: false. */
  reader?: boolean;
}

/**
 * The store of `config`.
 * @throws {StartupError} naming the file and why, with the exit code that
 * says it: in use by another process, cannot be written, not a database.
 */
export function openStore(config: Pick<Config, "store">, options: OpenStoreOptions = {}): Store {
  const { path, synchronous } = config.store;
  try {
    return options.reader ? SqliteStore.openReader(path) : SqliteStore.open(path, { synchronous });
  } catch (err) {
    throw storeStartupError(path, err);
  }
}

/** What went wrong opening the store at `path`, as a {@linkcode StartupError}. */
export function storeStartupError(path: string, err: unknown): StartupError {
  if (err instanceof StartupError) return err;
  const why = errorMessage(err);
  if (err instanceof StoreInUseError) {
    return new StartupError(err.message, { exitCode: EXIT.tempFail, cause: err });
  }
  if (/not a database|malformed|corrupt/i.test(why)) {
    return new StartupError(
      `store.path ${path} is not a mandrill database or is damaged (${why}): ` +
        "restore it from a backup, or move it aside to start with an empty store",
      { exitCode: EXIT.ioError, cause: err },
    );
  }
  if (/newer than this mandrill/.test(why)) {
    return new StartupError(`store.path ${path}: ${why}`, {
      exitCode: EXIT.configFile,
      cause: err,
    });
  }
  return new StartupError(`store.path ${path}: cannot open it for writing (${why})`, {
    exitCode: EXIT.cantCreate,
    cause: err,
  });
}
