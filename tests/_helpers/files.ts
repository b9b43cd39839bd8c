/** File and store helpers for tests. */
import { SqliteStore } from "../../src/store/mod.ts";
import { waitFor } from "./wait.ts";

/** The non-empty lines of `file`, or none when it does not exist yet. */
export async function readLines(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(file).catch(() => "");
  return text.split("\n").filter((l) => l.length > 0);
}

/** Waits until the store at `dbPath` holds exactly `n` requests, all done (none pending or started). */
export async function waitAllDone(dbPath: string, n: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(() => {
    using store = SqliteStore.openReader(dbPath);
    const c = store.counts();
    return c.done === n && c.pending === 0 && c.started === 0;
  }, { what: `all ${n} requests done in ${dbPath}`, timeoutMs });
}
