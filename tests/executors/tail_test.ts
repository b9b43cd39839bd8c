import assert from "node:assert/strict";
import { drainInto, TailBuffer } from "../../src/executors/_tail.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("TailBuffer keeps the last bytes across chunk sizes", () => {
  const tail = new TailBuffer(8);
  tail.push(bytes("abc"));
  assert.equal(tail.text(), "abc");
  tail.push(bytes("defgh"));
  assert.equal(tail.text(), "abcdefgh");
  tail.push(bytes("ij"));
  assert.equal(tail.text(), "…cdefghij");
  tail.push(bytes("0123456789"));
  assert.equal(tail.text(), "…23456789");
  assert.equal(tail.totalBytes, 20);
  assert.ok(tail.truncated);
});

Deno.test("TailBuffer drops a multi-byte character cut at the start", () => {
  const tail = new TailBuffer(4);
  tail.push(bytes("xé€")); // 1 + 2 + 3 bytes; the last 4 start inside "é"
  assert.equal(tail.text(), "…€");
});

Deno.test("drainInto reads a stream to the end and can be cancelled", async () => {
  const tail = new TailBuffer(16);
  await drainInto(ReadableStream.from([bytes("hello "), bytes("world")]), tail).done;
  assert.equal(tail.text(), "hello world");
  let cancelled = false;
  const endless = new ReadableStream<Uint8Array>({
    pull: () => {},
    cancel: () => {
      cancelled = true;
    },
  });
  await drainInto(endless, new TailBuffer(4)).cancel();
  assert.ok(cancelled);
});
