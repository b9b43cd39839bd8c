import assert from "node:assert/strict";
import { Metrics } from "../../src/http/metrics.ts";
import { startHttpServer } from "../../src/http/server.ts";
import { StatusFeed } from "../../src/status/feed.ts";
import { waitFor } from "../_helpers/wait.ts";

/** Reads SSE `data:` lines from a response body as they arrive. */
function sseReader(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const messages: string[] = [];
  let buffer = "";
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: "", done: true }));
      if (done) return;
      buffer += value;
      let at: number;
      while ((at = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: "));
        if (data.length > 0) messages.push(data.map((l) => l.slice(6)).join("\n"));
      }
    }
  })();
  return {
    messages,
    async close() {
      await reader.cancel().catch(() => {});
      await pump;
    },
  };
}

Deno.test("/api/events: the status at once, a burst of changes coalesced, a client that leaves frees its place, one too many is 503", async () => {
  let n = 0;
  const feed = new StatusFeed({
    snapshot: () => JSON.stringify({ n }),
    minIntervalMs: 200,
    refreshMs: 60_000,
    maxClients: 2,
  });
  await using server = startHttpServer("127.0.0.1:0", {
    metrics: new Metrics({ inboxPending: () => 0 }),
    ready: () => ({ ok: true, reasons: [] }),
    tasks: () => ({ requests: [], restarts: [] }),
    status: () => JSON.stringify({ n }),
    feed,
  });
  // Disposed before the server, whose shutdown waits for open responses.
  using _feed = feed;
  const url = `http://127.0.0.1:${server.addr.port}/api/events`;
  const first = await fetch(url);
  assert.equal(first.status, 200);
  assert.match(first.headers.get("content-type") ?? "", /^text\/event-stream/);
  const a = sseReader(first);
  await waitFor(() => a.messages.length === 1, { what: "the first status", timeoutMs: 5_000 });
  assert.deepEqual(JSON.parse(a.messages[0]!), { n: 0 });

  // 100 changes in a burst: a handful of updates, the last one current.
  const before = feed.updates;
  for (let i = 0; i < 100; i++) {
    n++;
    feed.changed();
  }
  await waitFor(() => a.messages.at(-1) === JSON.stringify({ n: 100 }), {
    what: "the update after the burst",
    timeoutMs: 5_000,
  });
  assert.ok(feed.updates - before <= 2, `${feed.updates - before} updates for a burst of 100`);

  const b = sseReader(await fetch(url));
  await waitFor(() => b.messages.length === 1, { what: "a second client", timeoutMs: 5_000 });
  const full = await fetch(url);
  assert.equal(full.status, 503);
  await full.body?.cancel();

  await b.close();
  await waitFor(() => feed.clients === 1, { what: "the client that left gone", timeoutMs: 5_000 });
  const c = sseReader(await fetch(url));
  await waitFor(() => c.messages.length === 1, { what: "a place again", timeoutMs: 5_000 });
  await a.close();
  await c.close();
  await waitFor(() => feed.clients === 0, { what: "every client gone", timeoutMs: 5_000 });
});
