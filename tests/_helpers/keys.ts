/** A controller key pair for tests, written as `mandrill keygen` writes it. */
import { generateKeyPair } from "../../src/security/mod.ts";

/** Paths of a fresh key pair in `dir`: the private key (controller) and the public key (agents). */
export interface TestKeys {
  keyFile: string;
  pubFile: string;
}

/** Writes a new Ed25519 key pair to `{dir}/command.key` (0600) and `{dir}/command.pub`. */
export async function testKeys(dir: string): Promise<TestKeys> {
  const { privatePem, publicPem } = await generateKeyPair();
  const keyFile = `${dir}/command.key`;
  const pubFile = `${dir}/command.pub`;
  await Deno.writeTextFile(keyFile, privatePem, { mode: 0o600 });
  await Deno.writeTextFile(pubFile, publicPem);
  return { keyFile, pubFile };
}
