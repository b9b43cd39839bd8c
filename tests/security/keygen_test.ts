import assert from "node:assert/strict";
import { CommandSigner, SignatureVerifier } from "../../src/security/mod.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function keygen(...args: string[]) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-check", MAIN, "keygen", ...args],
  }).output();
  const text = new TextDecoder();
  return { code: o.code, stdout: text.decode(o.stdout), stderr: text.decode(o.stderr) };
}

Deno.test("mandrill keygen writes a working key pair, the private key 0600, and refuses to overwrite it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/keys`;
    const first = await keygen("--out", out);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /"commandKeyFile": ".*command\.key"/);
    assert.equal((await Deno.stat(`${out}/command.key`)).mode! & 0o777, 0o600);
    const signer = await CommandSigner.fromFile(`${out}/command.key`);
    const verifier = await SignatureVerifier.fromFile(`${out}/command.pub`);
    const m = await signer.signControl({ paused: true, ts: 1 });
    assert.equal(await verifier.verifyControl(m), true, "the two files are not a pair");
    const before = await Deno.readTextFile(`${out}/command.key`);
    const again = await keygen("--out", out);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /command\.key exists; use --force/);
    assert.equal(await Deno.readTextFile(`${out}/command.key`), before, "overwritten");
    const forced = await keygen("--out", out, "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(await Deno.readTextFile(`${out}/command.key`), before);
    assert.equal((await keygen()).code, 2, "--out is required");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
