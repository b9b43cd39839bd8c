/**
 * The one error a caller of the config loader catches.
 * @module
 */

/** One problem in a config file: where (`policy.maxConcurrent`) and what. */
export interface ConfigIssue {
  /** Dotted path of the offending value (`hosts["web-1.example.com"].executor`); `""` for the whole file. */
  path: string;
  /** What is wrong, for a human: `expected a positive integer, got -1`. */
  message: string;
}

/** Options of {@linkcode ConfigError}. */
export interface ConfigErrorOptions {
  /** The config file, named in the message. Default: none (messages start with the path). */
  file?: string;
  /** The underlying error (a JSON SyntaxError, a file-system error). Default: none. */
  cause?: unknown;
}

/**
 * A config file that cannot be used. `message` lists every issue, one per line,
 * as `FILE: path: message`; `issues` holds them as data.
 */
export class ConfigError extends Error {
  /** The config file, when known. */
  readonly file: string | undefined;
  /** Every problem found, never empty. */
  readonly issues: readonly ConfigIssue[];

  /** Builds the error from its issues (at least one). */
  constructor(issues: readonly ConfigIssue[], options: ConfigErrorOptions = {}) {
    super(issues.map((issue) => formatIssue(issue, options.file)).join("\n"), {
      cause: options.cause,
    });
    this.name = "ConfigError";
    this.file = options.file;
    this.issues = issues;
  }
}

/** One issue as a line: `FILE: path: message` (parts that are empty are left out). */
export function formatIssue(issue: ConfigIssue, file?: string): string {
  return [file, issue.path, issue.message].filter((part) => part !== undefined && part !== "")
    .join(": ");
}

const PLAIN_KEY_RE = /^[A-Za-z0-9_-]+$/;

/**
 * A zod-style path in the dotted form people read: `policy.retry.attempts`,
 * `chaos.groups.web.windows[0].start`, `hosts["web-1.example.com"].executor`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "string" && PLAIN_KEY_RE.test(segment)) {
      out += out === "" ? segment : `.${segment}`;
    } else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}
