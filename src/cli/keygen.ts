// deno-lint-ignore-file no-console
/**
 * `mandrill keygen --out DIR [--force]`: the controller's Ed25519 key pair —
 * `command.key` (PKCS#8 PEM, mode 0600, for `security.commandKeyFile`) and
 * `command.pub` (SPKI PEM, for the agents' `security.controllerKeyFile`).
 * @module
 */
import { generateKeyPair } from "../security/mod.ts";
import { errorMessage } from "../log.ts";
import { parseCommand, usageError } from "./_common.ts";

/** Usage text of `mandrill keygen`. */
export const KEYGEN_USAGE = `Usage: mandrill keygen --out DIR [--force]

Writes a new Ed25519 key pair for signed agent commands and control:
  DIR/command.key  private key (PKCS#8 PEM, mode 0600): the controller's security.commandKeyFile
  DIR/command.pub  public key (SPKI PEM): each agent's security.controllerKeyFile
Refuses to overwrite existing files without --force.

Options:
  -o, --out DIR  Directory to write the two files to (created if needed)
      --force    Replace existing files
  -h, --help     Show this help`;

/** Writes `path` atomically (a temp file in the same directory, fsync, rename) with `mode`. */
async function _writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    await file.write(new TextEncoder().encode(text));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.chmod(tmp, mode); // the umask may have narrowed it; never widened
  await Deno.rename(tmp, path);
}

async function _exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs `mandrill keygen`; resolves to the exit status (0 ok, 1 failed, 2 usage). */
export async function keygenCommand(args: string[]): Promise<number> {
  const values = parseCommand("keygen", {
    usage: KEYGEN_USAGE,
    flags: { out: { type: "string", short: "o" }, force: { type: "boolean" } },
    args,
  }, { requireConfig: false });
  if (typeof values === "number") return values;
  if (!values.out) return usageError("keygen", KEYGEN_USAGE, "--out DIR is required");
  const dir = values.out;
  const keyPath = `${dir}/command.key`;
  const pubPath = `${dir}/command.pub`;
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    if (!values.force) {
      for (const p of [keyPath, pubPath]) {
        if (await _exists(p)) {
          console.error(`mandrill keygen: ${p} exists; use --force to replace the key pair`);
          return 1;
        }
      }
    }
    const { privatePem, publicPem } = await generateKeyPair();
    await _writeAtomically(keyPath, privatePem, 0o600);
    await _writeAtomically(pubPath, publicPem, 0o644);
  } catch (err) {
    console.error(`mandrill keygen: cannot write the key pair to ${dir}: ${errorMessage(err)}`);
    return 1;
  }
  console.log(`Wrote ${keyPath} (private, mode 0600) and ${pubPath} (public).
Controller config:  "security": { "commandKeyFile": "${keyPath}" }
Agent configs:      "security": { "controllerKeyFile": "/etc/mandrill/command.pub" }  (copy ${pubPath} there)`);
  return 0;
}
