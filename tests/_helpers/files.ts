/** File helpers for tests. */

/** The non-empty lines of `file`, or none when it does not exist yet. */
export async function readLines(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(file).catch(() => "");
  return text.split("\n").filter((l) => l.length > 0);
}
