import assert from "node:assert/strict";
import { CommitLoop } from "../../src/store/commit_loop.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test("CommitLoop: what is written while an asynchronous commit runs gets a commit of its own, after it", async () => {
  const queued: number[] = [];
  const committed: number[][] = [];
  let release: (() => void) | undefined;
  const loop = new CommitLoop({
    what: "test store",
    commit: async () => {
      const batch = queued.splice(0);
      if (batch.length === 0) return;
      await new Promise<void>((resolve) => release = resolve);
      committed.push(batch);
    },
  });
  queued.push(1);
  loop.soon();
  await waitFor(() => release, { what: "the first commit to run" });
  // Written while the first commit is in flight.
  queued.push(2);
  loop.soon();
  await new Promise((r) => setTimeout(r, 20));
  const first = release!;
  release = undefined;
  first();
  await waitFor(() => release, { what: "a second commit for the write made meanwhile" });
  release!();
  await waitFor(() => committed.length === 2, { what: "both batches committed" });
  assert.deepEqual(committed, [[1], [2]]);
  await loop.close();
});
