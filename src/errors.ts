/**
 * Startup failures and the exit codes a supervisor (systemd, a probe) can act
 * on — `sysexits.h`'s meanings, so `Restart=` and alerting rules can tell a
 * bad config from a busy store from a bug.
 * @module
 */

/** Exit codes of `mandrill run` and `mandrill agent`. */
export const EXIT = {
  /** Clean stop (SIGTERM/SIGINT drained). */
  ok: 0,
  /** The config file is invalid (every problem listed). */
  config: 1,
  /** Wrong command line. */
  usage: 2,
  /** A bug: an unexpected error, after a graceful shutdown (EX_SOFTWARE). */
  bug: 70,
  /** The store cannot be created or opened for writing, e.g. a read-only directory (EX_CANTCREAT). */
  cantCreate: 73,
  /** The store file is not a database or is damaged (EX_IOERR). */
  ioError: 74,
  /** The store is in use by another mandrill: try again once it stopped (EX_TEMPFAIL). */
  tempFail: 75,
  /** Something the config names is missing or taken: a TLS or key file, the HTTP port (EX_CONFIG). */
  configFile: 78,
  /** A second signal: exited at once, without draining. */
  forced: 130,
} as const;

/** mandrill could not start; `exitCode` says why to a supervisor. The message names the file or port. */
export class StartupError extends Error {
  override name = "StartupError";
  /** One of {@linkcode EXIT}. */
  readonly exitCode: number;

  /** `message` is shown as it is, on one line. */
  constructor(message: string, options: { exitCode: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.exitCode = options.exitCode;
  }
}
