/**
 * How the agent checks a command before anything else, from its
 * `security` config.
 * @module
 */
import type { Clock } from "../clock.ts";
import type { AgentConfig } from "../config/mod.ts";
import type { AgentCommand } from "../contract/messages.ts";
import { type CommandCheck, SignatureVerifier } from "../security/mod.ts";

/**
 * How the agent checks a command before anything else: with
 * `security.controllerKeyFile`, the controller's signature, the host and the
 * validity; with `allowUnsigned` (and no key), the host and the validity only.
 * @throws {KeyFileError} naming the key file when it cannot be read.
 */
export async function commandCheck(
  config: AgentConfig,
  clock: Clock,
): Promise<(command: AgentCommand) => Promise<CommandCheck>> {
  const { controllerKeyFile, maxClockSkewSec } = config.security;
  if (controllerKeyFile === undefined) {
    if (!config.security.allowUnsigned) {
      throw new Error(
        "security.controllerKeyFile is required (or security.allowUnsigned: true): refusing to run unsigned commands",
      );
    }
    const open = SignatureVerifier.unchecked();
    return (command) =>
      open.verifyCommand(command, { host: config.host, now: clock.now(), maxClockSkewSec });
  }
  const verifier = await SignatureVerifier.fromFile(controllerKeyFile);
  return (command) =>
    verifier.verifyCommand(command, { host: config.host, now: clock.now(), maxClockSkewSec });
}
