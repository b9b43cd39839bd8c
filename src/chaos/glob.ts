/**
 * Host name patterns of `chaos.groups.*.exclude`: `*` is any run of
 * characters (also none), `?` exactly one, everything else literal.
 * @module
 */

/**
 * The anchored regular expression of a host pattern. Only `*` and `?` are
 * special; every other character, `.` included, matches itself (case-sensitive).
 *
 * @example
 * ```ts
 * globToRegExp("db-*").test("db-1"); // true
 * globToRegExp("web-?.eu").test("web-10.eu"); // false
 * ```
 */
export function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (const ch of pattern) {
    if (ch === "*") source += ".*";
    else if (ch === "?") source += ".";
    else source += ch.replace(/[\\^$.|+()[\]{}\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "u");
}

/**
 * A predicate that is true for host names matching any of `patterns`.
 *
 * @example
 * ```ts
 * const excluded = hostMatcher(["db-*", "web-0"]);
 * excluded("db-7"); // true
 * excluded("web-1"); // false
 * ```
 */
export function hostMatcher(patterns: readonly string[]): (host: string) => boolean {
  const res = patterns.map(globToRegExp);
  return (host) => res.some((re) => re.test(host));
}
