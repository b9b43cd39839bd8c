/**
 * Silences the `debug` package inside MQTT.js and mqtt-packet unless `DEBUG`
 * is set. Even switched off, each of its loggers is `function debug(...args)`,
 * and mqtt-packet calls them a dozen times a packet: every call allocates its
 * arguments array before it finds it has nothing to do, about 13 KiB per
 * restart, the largest single source of garbage in an executor run.
 *
 * Import it before `mqtt` (side effect only). It puts a logger that does
 * nothing into the require cache where those packages look for `debug`; it
 * must run before they load, and does nothing if they already have.
 * With `DEBUG` set (e.g. `DEBUG=mqttjs*`), the real `debug` is left alone.
 * A bundle (`deno task bundle`) carries the packages inline, where no
 * require cache is asked: there it does nothing; `deno run` and the compiled
 * binary load them as packages.
 * @module
 */
import { createRequire, Module } from "node:module";

function _debugWanted(): boolean {
  try {
    return (Deno.env.get("DEBUG") ?? "") !== "";
  } catch {
    return false; // no --allow-env: nobody asked for it
  }
}

/** `debug`'s API as MQTT.js and mqtt-packet use it, doing nothing. */
function _quietDebug(namespace: string) {
  const log = Object.assign(() => {}, {
    namespace,
    enabled: false,
    log: () => {},
    extend: (sub: string) => _quietDebug(`${namespace}:${sub}`),
    destroy: () => true,
  });
  return log;
}
const _quietFactory = Object.assign(_quietDebug, {
  default: _quietDebug,
  enable: () => {},
  disable: () => "",
  enabled: () => false,
  names: [],
  skips: [],
  formatters: {},
});

/** Where each of the packages that log through `debug` finds it. */
function _debugPaths(): string[] {
  const require = createRequire(import.meta.url);
  const mqtt = require.resolve("mqtt");
  const packet = createRequire(mqtt).resolve("mqtt-packet");
  return [...new Set([mqtt, packet].map((from) => createRequire(from).resolve("debug")))];
}

/** The paths, or none where they cannot be resolved (a bundle that carries its packages inline). */
function _debugPathsIfAny(): string[] {
  try {
    return _debugPaths();
  } catch {
    return [];
  }
}

if (!_debugWanted()) {
  const require = createRequire(import.meta.url);
  for (const path of _debugPathsIfAny()) {
    if (require.cache[path] !== undefined) continue; // loaded already: too late
    const quiet = new Module(path);
    quiet.filename = path;
    quiet.loaded = true;
    quiet.exports = _quietFactory;
    require.cache[path] = quiet;
  }
}

/** Whether `debug` is silenced (tests). */
export function debugSilenced(): boolean {
  const require = createRequire(import.meta.url);
  const paths = _debugPathsIfAny();
  return paths.length > 0 && paths.every((path) => require.cache[path]?.exports === _quietFactory);
}
