import assert from "node:assert/strict";
import { readBootId, readUptimeSec } from "../../src/agent/proc.ts";

async function fakeProc(uptime: string | undefined, bootId: string | undefined) {
  const root = await Deno.makeTempDir({ prefix: "mandrill-proc-" });
  await Deno.mkdir(`${root}/sys/kernel/random`, { recursive: true });
  if (uptime !== undefined) await Deno.writeTextFile(`${root}/uptime`, uptime);
  if (bootId !== undefined) await Deno.writeTextFile(`${root}/sys/kernel/random/boot_id`, bootId);
  return { root, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

Deno.test("readBootId() and readUptimeSec() read procfs files under procRoot", async () => {
  await using proc = await fakeProc(
    "350735.47 234388.90\n",
    "  0f2a1b3c-aaaa-bbbb-cccc-1234567890ab\n",
  );
  assert.equal(await readBootId(proc.root), "0f2a1b3c-aaaa-bbbb-cccc-1234567890ab");
  assert.equal(await readUptimeSec(proc.root), 350735.47);
});

Deno.test("readUptimeSec() and readBootId() throw errors naming the file", async () => {
  await using proc = await fakeProc("garbage 1", "\n");
  await assert.rejects(readUptimeSec(proc.root), /Cannot read the uptime: .*\/uptime/);
  await assert.rejects(readBootId(proc.root), /Cannot read the boot id: .*boot_id/);
  await using empty = await fakeProc(undefined, undefined);
  await assert.rejects(readBootId(empty.root), /Cannot read .*boot_id/);
  await assert.rejects(readUptimeSec(empty.root), /Cannot read .*uptime/);
});

Deno.test("the real /proc has a boot id and an uptime", async () => {
  assert.match(await readBootId("/proc"), /^[0-9a-f-]{36}$/);
  assert.ok((await readUptimeSec("/proc")) > 0);
});

Deno.test("readBootId() honours an aborted signal", async () => {
  await assert.rejects(
    readBootId("/proc", { signal: AbortSignal.abort(new Error("stop")) }),
    /stop/,
  );
});
