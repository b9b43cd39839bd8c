/**
 * Trust on the wire: the controller signs agent commands and control
 * messages (Ed25519, WebCrypto); agents and instances verify them.
 * @module
 */
export {
  type CommandCheck,
  CommandSigner,
  commandSigningBytes,
  controlSigningBytes,
  MAX_COMMAND_LIFETIME_MS,
  type RefusalReason,
  SignatureVerifier,
  type SignedControl,
} from "./sign.ts";
export {
  fromPem,
  generateKeyPair,
  KeyFileError,
  publicKeyOf,
  readPrivateKey,
  readPublicKey,
  toPem,
} from "./keys.ts";
