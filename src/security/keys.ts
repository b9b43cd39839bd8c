/**
 * Ed25519 keys for signed commands and control (WebCrypto; no dependency):
 * generating a pair, PEM (PKCS#8 private, SPKI public), and reading key files
 * with errors that name the file and what is wrong. Private key material is
 * never logged.
 * @module
 */
import { encodeBase64 } from "./base64.ts";
import { log } from "../log.ts";

/** A key file that cannot be used: missing, unreadable, or not an Ed25519 key of the right kind. */
export class KeyFileError extends Error {
  override name = "KeyFileError";
  /** The file named in the message. */
  readonly path: string;

  /** `message` names the file already. */
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
  }
}

const _ALGORITHM = { name: "Ed25519" } as const;

/** A new Ed25519 key pair as PEM text: the private key (PKCS#8) and the public key (SPKI). */
export async function generateKeyPair(): Promise<{ privatePem: string; publicPem: string }> {
  const pair = await crypto.subtle.generateKey(_ALGORITHM, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return { privatePem: toPem("PRIVATE KEY", pkcs8), publicPem: toPem("PUBLIC KEY", spki) };
}

/** DER bytes as PEM with the given label, 64 characters a line. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = encodeBase64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The DER bytes of the first PEM block labelled `label` in `text`, or undefined. */
export function fromPem(label: string, text: string): Uint8Array<ArrayBuffer> | undefined {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
  const m = re.exec(text);
  if (!m) return undefined;
  try {
    return Uint8Array.from(atob(m[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * Reads the controller's private key (PKCS#8 PEM) from `path`, for signing.
 * Warns when the file is readable by group or others.
 * @throws {KeyFileError} naming the file and what is wrong.
 */
export async function readPrivateKey(path: string): Promise<CryptoKey> {
  const text = await _read(path, "private key");
  const der = fromPem("PRIVATE KEY", text);
  if (der === undefined) {
    throw new KeyFileError(
      path,
      `${path} holds no PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----"); make one with "mandrill keygen"`,
    );
  }
  try {
    const mode = (await Deno.stat(path)).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      log("security").warn(
        "The private key {path} is readable by others (mode {mode}): chmod 600 it",
        {
          path,
          mode: (mode & 0o777).toString(8),
        },
      );
    }
  } catch { /* stat failed after a successful read: nothing to add */ }
  try {
    return await crypto.subtle.importKey("pkcs8", der, _ALGORITHM, true, ["sign"]);
  } catch (err) {
    throw new KeyFileError(path, `${path} is not an Ed25519 private key`, { cause: err });
  }
}

/**
 * Reads a public key (SPKI PEM) from `path`, for verifying.
 * @throws {KeyFileError} naming the file and what is wrong.
 */
export async function readPublicKey(path: string): Promise<CryptoKey> {
  const text = await _read(path, "public key");
  const der = fromPem("PUBLIC KEY", text);
  if (der === undefined) {
    const hint = /PRIVATE KEY/.test(text)
      ? ": it is a private key; give agents the public one (command.pub)"
      : "";
    throw new KeyFileError(path, `${path} holds no SPKI PEM public key${hint}`);
  }
  try {
    return await crypto.subtle.importKey("spki", der, _ALGORITHM, true, ["verify"]);
  } catch (err) {
    throw new KeyFileError(path, `${path} is not an Ed25519 public key`, { cause: err });
  }
}

/** The public key that goes with `privateKey` (extractable, as `readPrivateKey` imports it). */
export async function publicKeyOf(privateKey: CryptoKey): Promise<CryptoKey> {
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  return await crypto.subtle.importKey(
    "jwk",
    { kty: jwk.kty, crv: jwk.crv, x: jwk.x },
    _ALGORITHM,
    true,
    ["verify"],
  );
}

async function _read(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "not found"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : String(err);
    throw new KeyFileError(path, `cannot read the ${what} ${path}: ${why}`, { cause: err });
  }
}
