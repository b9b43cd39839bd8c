/**
 * Opening the store a config names: SQLite at `store.path`, or PostgreSQL at
 * `store.url` (shared by every instance).
 * @module
 */
import type { Config } from "../config/mod.ts";
import { EXIT, StartupError } from "../errors.ts";
import { errorMessage } from "../log.ts";
import { redactUrl } from "../url.ts";
import { PgStore } from "./pg/store.ts";
import { SqliteStore } from "./sqlite.ts";
import { StoreInUseError } from "./sqlite_lock.ts";
import type { Store } from "./types.ts";

/** Options of {@linkcode openStore}. */
export interface OpenStoreOptions {
  /** Only to read (`mandrill history`): no claim on the store, while a mandrill may run on it. Default: false. */
  reader?: boolean;
  /** A shared store: this instance's id (its MQTT client id), what its leases are held in. Default: `mandrill`. */
  instance?: string;
}

/**
 * The store of `config`.
 * @throws {StartupError} naming the file and why, with the exit code that
 * says it: in use by another process, cannot be written, not a database.
 */
export async function openStore(
  config: Pick<Config, "store">,
  options: OpenStoreOptions = {},
): Promise<Store> {
  const { url, path, synchronous } = config.store;
  if (url !== undefined) {
    try {
      return await PgStore.open({
        url,
        tls: config.store.tls,
        instance: options.instance ?? "mandrill",
        leaseMs: config.store.leaseSec * 1000,
        reader: options.reader,
      });
    } catch (err) {
      throw _pgStartupError(url, err);
    }
  }
  try {
    return options.reader ? SqliteStore.openReader(path) : SqliteStore.open(path, { synchronous });
  } catch (err) {
    throw _storeStartupError(path, err);
  }
}

/** What went wrong opening the store at `path`, as a {@linkcode StartupError}. */
function _storeStartupError(path: string, err: unknown): StartupError {
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

/** What went wrong opening the PostgreSQL store at `url`, as a {@linkcode StartupError}. */
function _pgStartupError(url: string, err: unknown): StartupError {
  if (err instanceof StartupError) return err;
  const where = `store.url ${redactUrl(url)}`;
  const why = errorMessage(err);
  const code = (err as { code?: unknown }).code;
  // Wrong credentials, no such database, a newer schema, a bad CA file: the config's to fix.
  if (
    code === "28P01" || code === "28000" || code === "3D000" || code === "ENOENT" ||
    /newer than this mandrill/.test(why)
  ) {
    return new StartupError(`${where}: ${why}`, { exitCode: EXIT.configFile, cause: err });
  }
  // Unreachable, refusing, starting up: worth trying again.
  return new StartupError(`${where}: cannot connect (${why})`, {
    exitCode: EXIT.tempFail,
    cause: err,
  });
}
