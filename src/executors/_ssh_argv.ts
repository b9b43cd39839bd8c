/**
 * Pure part of the ssh executor: option checking, target validation and the ssh
 * argv. Public names are re-exported by `ssh.ts`.
 * @module
 */
import { isValidHost } from "../contract/ids.ts";
import type { ExecuteRequest } from "./types.ts";

/** Options of the ssh executor (`SshExecutor`, `buildSshArgv`, `probeBootId`). */
export interface SshExecutorOptions {
  /** Remote user (`-l`). Required. */
  user: string;
  /** Remote port (`-p`). Default: 22. */
  port?: number;
  /** Remote command as an argv; each element is quoted for the remote POSIX shell. Required, non-empty. */
  command: string[];
  /** Private key (`-i`, with `IdentitiesOnly=yes`). Default: ssh's own choice. */
  identityFile?: string;
  /** Known-hosts file (`UserKnownHostsFile`). Default: ssh's own (`~/.ssh/known_hosts`). */
  knownHostsFile?: string;
  /** Refuse unknown or changed host keys. When false, host keys are neither checked nor saved. Default: true. */
  strictHostKeyChecking?: boolean;
  /**
   * Extra `Key=Value` options, each passed as `-o Key=Value` after the built-in ones
   * (ssh keeps the first value of an option, so they cannot override those). Default: none.
   */
  options?: string[];
  /** `ConnectTimeout` in seconds, > 0 (rounded up to whole seconds for ssh). Default: 10. */
  connectTimeoutSec?: number;
  /** `ServerAliveInterval` in seconds, rounded up (0 disables). Default: 5. */
  serverAliveIntervalSec?: number;
  /** Overall time limit in seconds; ssh is then killed. Default: 60. */
  timeoutSec?: number;
  /**
   * The remote command takes the connection down (e.g. `systemctl reboot`), so
   * ssh exiting with 255 after a dropped connection counts as success. Default: false.
   */
  expectDisconnect?: boolean;
  /** The ssh client program. Default: "ssh". */
  sshBinary?: string;
}

/** Quotes `arg` as one word for a POSIX shell: `it's` → `'it'\''s'`. */
export function quoteForShell(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** True when `address` is an RFC 1123 host name, an IPv4 literal or a bare IPv6 literal. */
export function isValidAddress(address: unknown): address is string {
  if (typeof address !== "string") return false;
  if (isValidHost(address as unknown)) return true; // Covers dotted IPv4 too.
  if (!/^[0-9A-Fa-f:.]+$/.test(address) || !address.includes(":")) return false;
  try {
    new URL(`http://[${address}]/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The full ssh argv (program first) that runs `options.command` on the request's
 * target (`req.address ?? req.host`). Pure; throws `TypeError`/`RangeError` on an
 * invalid target or invalid options.
 *
 * @example
 * ```ts
 * buildSshArgv({ id: "r-1", host: "web-1" }, { user: "root", command: ["systemctl", "reboot"] });
 * // ["ssh", "-o", "BatchMode=yes", ..., "-p", "22", "-l", "root", "--", "web-1", "'systemctl' 'reboot'"]
 * ```
 */
export function buildSshArgv(req: ExecuteRequest, options: SshExecutorOptions): string[] {
  const problem = targetProblem(req);
  if (problem !== undefined) throw new TypeError(problem);
  const o = resolveOptions(options);
  const argv = [
    o.sshBinary,
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${Math.ceil(o.connectTimeoutSec)}`,
    "-o",
    `ServerAliveInterval=${Math.ceil(o.serverAliveIntervalSec)}`,
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    `StrictHostKeyChecking=${o.strictHostKeyChecking ? "yes" : "no"}`,
  ];
  if (!o.strictHostKeyChecking) {
    argv.push("-o", "UserKnownHostsFile=/dev/null");
  } else if (o.knownHostsFile !== undefined) {
    argv.push("-o", `UserKnownHostsFile=${configValue(o.knownHostsFile)}`);
  }
  if (o.identityFile !== undefined) {
    argv.push("-i", o.identityFile, "-o", "IdentitiesOnly=yes");
  }
  argv.push("-p", String(req.port ?? o.port), "-l", o.user);
  for (const extra of o.options) argv.push("-o", extra);
  argv.push("--", req.address ?? req.host, o.command.map(quoteForShell).join(" "));
  return argv;
}

/** Why the request must not reach ssh, or undefined when it may. */
export function targetProblem(req: ExecuteRequest): string | undefined {
  if (!isValidHost(req.host)) {
    return `refusing to ssh to invalid host name ${JSON.stringify(req.host)}`;
  }
  if (req.address !== undefined && !isValidAddress(req.address)) {
    return `refusing to ssh to invalid address ${JSON.stringify(req.address)} of ${req.host}`;
  }
  return undefined;
}

/** Options with every default applied. */
export type ResolvedOptions =
  & Required<Omit<SshExecutorOptions, "identityFile" | "knownHostsFile">>
  & {
    identityFile?: string;
    knownHostsFile?: string;
  };

// One argv word that ssh cannot take for an option: no blanks or controls, no leading "-".
// deno-lint-ignore no-control-regex
const USER_RE = /^[^-\s\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*$/;
const EXTRA_OPTION_RE = /^[A-Za-z][A-Za-z0-9]*=\S.*$/;

/** Applies defaults and checks every option; throws `TypeError`/`RangeError`. */
export function resolveOptions(options: SshExecutorOptions): ResolvedOptions {
  const o: ResolvedOptions = {
    user: options.user,
    port: options.port ?? 22,
    command: options.command,
    identityFile: options.identityFile,
    knownHostsFile: options.knownHostsFile,
    strictHostKeyChecking: options.strictHostKeyChecking ?? true,
    options: options.options ?? [],
    connectTimeoutSec: options.connectTimeoutSec ?? 10,
    serverAliveIntervalSec: options.serverAliveIntervalSec ?? 5,
    timeoutSec: options.timeoutSec ?? 60,
    expectDisconnect: options.expectDisconnect ?? false,
    sshBinary: options.sshBinary ?? "ssh",
  };
  if (typeof o.user !== "string" || !USER_RE.test(o.user)) {
    throw new TypeError(
      `ssh user must have no spaces and not start with "-", got ${JSON.stringify(o.user)}`,
    );
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
    throw new RangeError(`ssh port must be an integer in 1-65535, got ${o.port}`);
  }
  if (
    !Array.isArray(o.command) || o.command.length === 0 ||
    !o.command.every((a) => typeof a === "string" && !a.includes("\0"))
  ) {
    throw new TypeError("ssh command must be a non-empty array of strings without NUL");
  }
  if (!Array.isArray(o.options)) throw new TypeError("ssh options must be an array of Key=Value");
  for (const extra of o.options) {
    if (typeof extra !== "string" || !EXTRA_OPTION_RE.test(extra) || /[\r\n]/.test(extra)) {
      throw new TypeError(`ssh option must look like Key=Value, got ${JSON.stringify(extra)}`);
    }
  }
  checkSeconds("connectTimeoutSec", o.connectTimeoutSec, false);
  checkSeconds("serverAliveIntervalSec", o.serverAliveIntervalSec, true);
  checkSeconds("timeoutSec", o.timeoutSec, false);
  for (
    const [key, path] of [["identityFile", o.identityFile], ["knownHostsFile", o.knownHostsFile]]
  ) {
    if (path !== undefined && (path === "" || /["\0\r\n]/.test(path))) {
      throw new TypeError(`ssh ${key} must be a path without quotes or newlines`);
    }
  }
  if (typeof o.sshBinary !== "string" || o.sshBinary === "") {
    throw new TypeError("ssh sshBinary must name a program");
  }
  return o;
}

function checkSeconds(key: string, value: number, zeroAllowed: boolean): void {
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) {
    throw new RangeError(`ssh ${key} must be ${zeroAllowed ? ">= 0" : "> 0"}, got ${value}`);
  }
}

/** ssh splits option values on whitespace unless they are double-quoted. */
function configValue(path: string): string {
  return /\s/.test(path) ? `"${path}"` : path;
}
