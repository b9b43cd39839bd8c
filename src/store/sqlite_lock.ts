/**
 * One process per SQLite store file: `{path}.lock`, an advisory lock the
 * kernel drops when the process dies (kill -9 included), holding its pid.
 * @module
 */

/** Another process runs on the store file. */
export class StoreInUseError extends Error {
  override name = "StoreInUseError";
}

/**
 * Takes `{path}.lock` for this process, writing its pid there; close the
 * file to let go.
 * @throws {StoreInUseError} naming the file and the other process.
 */
export function lockStore(path: string): Deno.FsFile {
  const lockPath = `${path}.lock`;
  const file = Deno.openSync(lockPath, { read: true, write: true, create: true });
  if (!file.tryLockSync(true)) {
    file.close();
    let pid = "";
    try {
      pid = Deno.readTextFileSync(lockPath).trim();
    } catch { /* unreadable: say what we know */ }
    throw new StoreInUseError(
      `store ${path} is in use by another mandrill${pid ? ` (pid ${pid})` : ""} ` +
        `(lock ${lockPath}): two processes on one SQLite file would each run every request; ` +
        "stop the other, or share a PostgreSQL store (store.url) between instances",
    );
  }
  file.truncateSync(0);
  file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
  return file;
}
