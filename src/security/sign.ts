/**
 * Signing and verifying what only the controller may say: agent commands
 * (`{p}/agents/{host}/commands`) and control messages (`{p}/control`). The
 * signature (Ed25519, URL-safe base64 in `sig`) covers a canonical encoding
 * of every other field, prefixed by a tag per kind — a command's signature
 * can never pass for a control message's, or the other way round.
 * @module
 */
import type { AgentCommand } from "../contract/messages.ts";
import { decodeBase64Url, encodeBase64Url } from "./base64.ts";
import { publicKeyOf, readPrivateKey, readPublicKey } from "./keys.ts";

/** A control message on `{p}/control` (the kill switch), as signed. */
export interface SignedControl {
  paused: boolean;
  reason?: string;
  by?: string;
  ts?: number;
  sig?: string;
}

/** Why an agent refuses a command. */
export type RefusalReason =
  | "unsigned"
  | "bad_signature"
  | "wrong_host"
  | "expired"
  | "not_yet_valid"
  | "too_long_lived";

/** What an agent's check of a command found. */
export type CommandCheck = { ok: true } | { ok: false; reason: RefusalReason; detail: string };

/** Longest a command may be valid: a bound on replays of a leaked one. */
export const MAX_COMMAND_LIFETIME_MS = 24 * 3_600_000;

const _encoder = new TextEncoder();
const _ALGORITHM = { name: "Ed25519" } as const;

/** The bytes a command's signature covers. */
export function commandSigningBytes(c: Omit<AgentCommand, "sig">): Uint8Array<ArrayBuffer> {
  return _encoder.encode(JSON.stringify([
    "mandrill-command-v1",
    c.id,
    c.action,
    c.host,
    c.issuedAt,
    c.expiresAt,
    c.reason ?? null,
  ]));
}

/** The bytes a control message's signature covers. */
export function controlSigningBytes(m: Omit<SignedControl, "sig">): Uint8Array<ArrayBuffer> {
  return _encoder.encode(JSON.stringify([
    "mandrill-control-v1",
    m.paused,
    m.reason ?? null,
    m.by ?? null,
    m.ts ?? null,
  ]));
}

/** Signs commands and control messages with the controller's private key. */
export class CommandSigner {
  readonly #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** Reads the private key (PKCS#8 PEM); throws `KeyFileError` naming the file. */
  static async fromFile(path: string): Promise<CommandSigner> {
    return new CommandSigner(await readPrivateKey(path));
  }

  /** Wraps a private key (tests, `mandrill dev`). */
  static fromKey(key: CryptoKey): CommandSigner {
    return new CommandSigner(key);
  }

  /** The command with its signature. */
  async signCommand(c: Omit<AgentCommand, "sig">): Promise<AgentCommand> {
    return { ...c, sig: await this.#sign(commandSigningBytes(c)) };
  }

  /** The control message with its signature. */
  async signControl(m: Omit<SignedControl, "sig">): Promise<SignedControl> {
    return { ...m, sig: await this.#sign(controlSigningBytes(m)) };
  }

  /** The verifier of the matching public key (the controller checks control messages with it). */
  async verifier(): Promise<SignatureVerifier> {
    return SignatureVerifier.fromKey(await publicKeyOf(this.#key));
  }

  async #sign(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
    return encodeBase64Url(new Uint8Array(await crypto.subtle.sign(_ALGORITHM, this.#key, bytes)));
  }
}

/** Verifies signatures with the controller's public key. */
export class SignatureVerifier {
  readonly #key: CryptoKey | undefined;

  private constructor(key: CryptoKey | undefined) {
    this.#key = key;
  }

  /**
   * A verifier without a key, for `security.allowUnsigned`: commands are
   * checked for their host and validity, signed or not; no control message
   * verifies.
   */
  static unchecked(): SignatureVerifier {
    return new SignatureVerifier(undefined);
  }

  /** Reads the public key (SPKI PEM); throws `KeyFileError` naming the file. */
  static async fromFile(path: string): Promise<SignatureVerifier> {
    return new SignatureVerifier(await readPublicKey(path));
  }

  /** Wraps a public key. */
  static fromKey(key: CryptoKey): SignatureVerifier {
    return new SignatureVerifier(key);
  }

  /**
   * Whether `cmd` may run on `expect.host` at `expect.now`: signed by the
   * controller, for this host, issued no more than `maxClockSkewSec` in the
   * future, not expired, not valid for longer than a day.
   */
  async verifyCommand(
    cmd: AgentCommand,
    expect: { host: string; now: number; maxClockSkewSec: number },
  ): Promise<CommandCheck> {
    if (this.#key !== undefined) {
      if (cmd.sig === undefined) return _no("unsigned", "the command carries no signature");
      const { sig, ...rest } = cmd;
      if (!(await this.#verify(commandSigningBytes(rest), sig))) {
        return _no("bad_signature", "its signature does not verify with the controller's key");
      }
    }
    if (cmd.host !== expect.host) {
      return _no("wrong_host", `it was issued for ${cmd.host}, not for this host (${expect.host})`);
    }
    if (cmd.expiresAt - cmd.issuedAt > MAX_COMMAND_LIFETIME_MS || cmd.expiresAt < cmd.issuedAt) {
      return _no("too_long_lived", "it is valid for longer than a day (or expires before issued)");
    }
    if (expect.now > cmd.expiresAt) {
      const ago = Math.round((expect.now - cmd.expiresAt) / 1000);
      return _no("expired", `it expired ${ago}s ago (${new Date(cmd.expiresAt).toISOString()})`);
    }
    if (cmd.issuedAt > expect.now + expect.maxClockSkewSec * 1000) {
      const ahead = Math.round((cmd.issuedAt - expect.now) / 1000);
      return _no(
        "not_yet_valid",
        `it was issued ${ahead}s in the future, more than maxClockSkewSec (${expect.maxClockSkewSec}s)`,
      );
    }
    return { ok: true };
  }

  /** Whether `m` carries a valid signature of the controller. */
  async verifyControl(m: SignedControl): Promise<boolean> {
    if (m.sig === undefined) return false;
    const { sig, ...rest } = m;
    return await this.#verify(controlSigningBytes(rest), sig);
  }

  async #verify(bytes: Uint8Array<ArrayBuffer>, sig: string): Promise<boolean> {
    const raw = decodeBase64Url(sig);
    if (this.#key === undefined || raw === undefined || raw.length !== 64) return false;
    try {
      return await crypto.subtle.verify(_ALGORITHM, this.#key, raw, bytes);
    } catch {
      return false;
    }
  }
}

function _no(reason: RefusalReason, detail: string): CommandCheck {
  return { ok: false, reason, detail };
}
