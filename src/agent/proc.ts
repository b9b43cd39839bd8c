/**
 * What the agent reads about its host from procfs: the boot id (changes on
 * every boot) and the uptime. `procRoot` is configurable so tests can fake it.
 * @module
 */

/** Options of {@linkcode readBootId} and {@linkcode readUptimeSec}. */
export interface ProcReadOptions {
  /** Aborts the read. Default: none. */
  signal?: AbortSignal;
}

/**
 * The kernel's boot id, `${procRoot}/sys/kernel/random/boot_id`, trimmed.
 * @throws {Error} naming the file when it cannot be read or is empty.
 */
export async function readBootId(procRoot: string, options: ProcReadOptions = {}): Promise<string> {
  const path = `${procRoot}/sys/kernel/random/boot_id`;
  const text = await _read(path, options.signal);
  const bootId = text.trim();
  if (bootId.length === 0 || bootId.length > 128) {
    throw new Error(`Cannot read the boot id: ${path} holds ${JSON.stringify(text.slice(0, 40))}`);
  }
  return bootId;
}

/**
 * Seconds since boot: the first field of `${procRoot}/uptime`.
 * @throws {Error} naming the file when it cannot be read or does not start with a number.
 */
export async function readUptimeSec(
  procRoot: string,
  options: ProcReadOptions = {},
): Promise<number> {
  const path = `${procRoot}/uptime`;
  const text = await _read(path, options.signal);
  const first = text.trim().split(/\s+/)[0] ?? "";
  const uptime = /^\d+(\.\d+)?$/.test(first) ? Number(first) : NaN;
  if (!Number.isFinite(uptime)) {
    throw new Error(`Cannot read the uptime: ${path} holds ${JSON.stringify(text.slice(0, 40))}`);
  }
  return uptime;
}

async function _read(path: string, signal: AbortSignal | undefined): Promise<string> {
  signal?.throwIfAborted();
  try {
    return await Deno.readTextFile(path, { signal });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new Error(`Cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}
