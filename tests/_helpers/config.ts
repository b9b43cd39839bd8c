/** Configs for tests that run the controller: test defaults and the pieces many tests share. */

/**
 * argv of a `command` executor that appends "HOST ID" (and `suffix`) to `file`,
 * then runs the shell code `after`, if any. No shell string holds message content:
 * the host arrives as `$1`, the id in `MANDRILL_REQUEST_ID`.
 */
export function recordingArgv(
  file: string,
  options: { suffix?: string; after?: string } = {},
): string[] {
  const suffix = options.suffix ? ` ${options.suffix}` : "";
  const after = options.after ? `; ${options.after}` : "";
  return ["sh", "-c", `echo "$1 $MANDRILL_REQUEST_ID${suffix}" >> '${file}'${after}`, "sh"];
}

/** Hosts `web-0` … `web-{n-1}`, restarted by `executor`, each in `group(i)` when given. */
export function hostsConfig(
  n: number,
  options: { executor?: string; group?: (i: number) => string } = {},
): Record<string, { executor: string; group?: string }> {
  const executor = options.executor ?? "local";
  return Object.fromEntries(
    Array.from({ length: n }, (_, i) => [
      `web-${i}`,
      options.group ? { executor, group: options.group(i) } : { executor },
    ]),
  );
}

/**
 * A `mandrill run` config for tests: the broker at `url`, the store in `dir`
 * (`{name}.db`), HTTP off, then `overrides` (an `mqtt` override is merged in).
 */
export function testConfig(
  dir: string,
  url: string,
  overrides: Record<string, unknown> = {},
  name = "m",
): Record<string, unknown> {
  const { mqtt, ...rest } = overrides as { mqtt?: Record<string, unknown> };
  return {
    mqtt: { url, clientId: `mandrill-${name}-${crypto.randomUUID().slice(0, 6)}`, ...mqtt },
    store: { path: `${dir}/${name}.db` },
    http: { listen: null },
    ...rest,
  };
}

/** Writes {@linkcode testConfig} to `{dir}/{name}.json` and returns its path. */
export async function writeTestConfig(
  dir: string,
  url: string,
  overrides: Record<string, unknown> = {},
  name = "m",
): Promise<string> {
  const file = `${dir}/${name}.json`;
  await Deno.writeTextFile(file, JSON.stringify(testConfig(dir, url, overrides, name)));
  return file;
}
