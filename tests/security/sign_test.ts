import assert from "node:assert/strict";
import {
  CommandSigner,
  commandSigningBytes,
  controlSigningBytes,
  fromPem,
  generateKeyPair,
  KeyFileError,
  readPrivateKey,
  readPublicKey,
  SignatureVerifier,
} from "../../src/security/mod.ts";
import { testKeys } from "../_helpers/keys.ts";

async function pair() {
  const dir = await Deno.makeTempDir();
  const keys = await testKeys(dir);
  return {
    dir,
    signer: await CommandSigner.fromFile(keys.keyFile),
    verifier: await SignatureVerifier.fromFile(keys.pubFile),
    keys,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const NOW = Date.UTC(2026, 0, 1);
const cmd = (extra = {}) => ({
  id: "r-1",
  action: "restart" as const,
  host: "web-1",
  issuedAt: NOW,
  expiresAt: NOW + 30_000,
  ...extra,
});
const expect = { host: "web-1", now: NOW + 1_000, maxClockSkewSec: 60 };

Deno.test("security: a signed command verifies; every other case is refused with its reason", async (t) => {
  await using p = await pair();
  const signed = await p.signer.signCommand(cmd({ reason: "stuck" }));
  assert.deepEqual(await p.verifier.verifyCommand(signed, expect), { ok: true });
  const reason = async (c: Parameters<typeof p.verifier.verifyCommand>[0], e = expect) => {
    const r = await p.verifier.verifyCommand(c, e);
    return r.ok ? "ok" : r.reason;
  };
  await t.step("unsigned", async () => assert.equal(await reason(cmd()), "unsigned"));
  await t.step("any field changed after signing", async () => {
    for (const change of [{ id: "r-2" }, { reason: "other" }, { expiresAt: NOW + 999_999 }]) {
      assert.equal(await reason({ ...signed, ...change }), "bad_signature", JSON.stringify(change));
    }
  });
  await t.step("garbage signature", async () => {
    assert.equal(await reason({ ...signed, sig: "not base64!" }), "bad_signature");
    assert.equal(await reason({ ...signed, sig: "AAAA" }), "bad_signature");
  });
  await t.step("signed by another key", async () => {
    await using other = await pair();
    assert.equal(await reason(await other.signer.signCommand(cmd())), "bad_signature");
  });
  await t.step("for another host", async () => {
    assert.equal(await reason(signed, { ...expect, host: "web-2" }), "wrong_host");
  });
  await t.step("expired", async () => {
    assert.equal(await reason(signed, { ...expect, now: NOW + 30_001 }), "expired");
  });
  await t.step("issued beyond the clock skew", async () => {
    const future = await p.signer.signCommand(
      cmd({ issuedAt: NOW + 120_000, expiresAt: NOW + 150_000 }),
    );
    assert.equal(await reason(future), "not_yet_valid");
    assert.equal(await reason(future, { ...expect, maxClockSkewSec: 600 }), "ok");
  });
  await t.step("valid for longer than a day", async () => {
    const long = await p.signer.signCommand(cmd({ expiresAt: NOW + 2 * 86_400_000 }));
    assert.equal(await reason(long), "too_long_lived");
  });
});

Deno.test("security: a control message signature covers every field and cannot pass for a command's", async () => {
  await using p = await pair();
  const m = await p.signer.signControl({ paused: false, by: "ops@bastion", ts: NOW });
  assert.equal(await p.verifier.verifyControl(m), true);
  assert.equal(await p.verifier.verifyControl({ ...m, paused: true }), false);
  assert.equal(await p.verifier.verifyControl({ ...m, ts: NOW + 1 }), false);
  assert.equal(await p.verifier.verifyControl({ paused: false, ts: NOW }), false, "unsigned");
  // The same signature over a command's encoding does not verify as control, and back.
  const c = await p.signer.signCommand(cmd());
  assert.notDeepEqual(commandSigningBytes(cmd()), controlSigningBytes({ paused: false }));
  assert.equal(await p.verifier.verifyControl({ paused: false, sig: c.sig }), false);
  // The controller verifies with the public key derived from its private one.
  const own = await p.signer.verifier();
  assert.equal(await own.verifyControl(m), true);
});

Deno.test("security: key files are PEM, the private one mode 0600; bad files name the file and why", async () => {
  const { privatePem, publicPem } = await generateKeyPair();
  assert.match(
    privatePem,
    /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/,
  );
  assert.match(publicPem, /^-----BEGIN PUBLIC KEY-----\n/);
  assert.ok(fromPem("PRIVATE KEY", privatePem)!.length > 0);
  const dir = await Deno.makeTempDir();
  try {
    const keys = await testKeys(dir);
    assert.equal((await Deno.stat(keys.keyFile)).mode! & 0o777, 0o600);
    await assert.rejects(
      readPrivateKey(`${dir}/nope`),
      (e: Error) => e instanceof KeyFileError && /nope: not found/.test(e.message),
    );
    await assert.rejects(readPrivateKey(keys.pubFile), /holds no PKCS#8 PEM private key/);
    await assert.rejects(
      readPublicKey(keys.keyFile),
      /it is a private key; give agents the public one/,
    );
    await Deno.writeTextFile(
      `${dir}/junk`,
      "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    );
    await assert.rejects(readPublicKey(`${dir}/junk`), /is not an Ed25519 public key/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
