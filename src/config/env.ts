/**
 * `${NAME}` expansion of config strings, so secrets stay out of the file.
 * @module
 */

/** Outcome of expanding one string: the result, or what stopped it. */
export type EnvExpansion =
  | { kind: "ok"; value: string }
  | { kind: "missing"; names: string[] }
  | { kind: "invalid"; reference: string };

const TOKEN_RE = /\$\$\{|\$\{([^}]*)\}?/g;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces every `${NAME}` in `value` with `env[NAME]`; `$${` stands for a
 * literal `${`. A `$` not followed by `{` is kept as is. Pure: reads only `env`.
 *
 * @example
 * ```ts
 * expandEnv("mqtt://${HOST}:1883", { HOST: "broker" }); // { kind: "ok", value: "mqtt://broker:1883" }
 * expandEnv("$${HOST}", {}); // { kind: "ok", value: "${HOST}" }
 * expandEnv("${NOPE}", {}); // { kind: "missing", names: ["NOPE"] }
 * ```
 */
export function expandEnv(
  value: string,
  env: Readonly<Record<string, string | undefined>>,
): EnvExpansion {
  const missing: string[] = [];
  let invalid: string | undefined;
  const expanded = value.replace(TOKEN_RE, (token, name: string | undefined) => {
    if (token === "$${") return "${";
    if (name === undefined || !token.endsWith("}") || !NAME_RE.test(name)) {
      invalid ??= token;
      return token;
    }
    const found = Object.hasOwn(env, name) ? env[name] : undefined;
    if (found === undefined) {
      if (!missing.includes(name)) missing.push(name);
      return token;
    }
    return found;
  });
  if (invalid !== undefined) return { kind: "invalid", reference: invalid };
  if (missing.length > 0) return { kind: "missing", names: missing };
  return { kind: "ok", value: expanded };
}
