/**
 * The files a config names (TLS certificates and keys, SSH identities, the
 * signing keys): each must be readable before anything connects, so a typo is
 * one clear line at `config check` or at start, not a stack trace later.
 * @module
 */
import type { AgentConfig } from "./agent_schema.ts";
import type { Config } from "./schema.ts";

/** A file the config names that cannot be read, with the key that names it. */
export interface UnreadableFile {
  /** Dotted key, e.g. `mqtt.tls.caFile`. */
  key: string;
  file: string;
  why: string;
}

function _named(config: Config | AgentConfig): [string, string | undefined][] {
  const tls = config.mqtt.tls;
  const named: [string, string | undefined][] = [
    ["mqtt.tls.caFile", tls?.caFile],
    ["mqtt.tls.certFile", tls?.certFile],
    ["mqtt.tls.keyFile", tls?.keyFile],
  ];
  if ("executors" in config) {
    for (const [name, e] of Object.entries(config.executors)) {
      if (e.type === "ssh") named.push([`executors.${name}.identityFile`, e.identityFile]);
    }
    named.push(["security.commandKeyFile", config.security.commandKeyFile]);
    named.push(["store.tls.caFile", config.store.tls?.caFile]);
  } else {
    named.push(["security.controllerKeyFile", config.security.controllerKeyFile]);
  }
  return named;
}

/** The named files that are missing, not regular files, or not readable by this process. */
export async function unreadableFiles(config: Config | AgentConfig): Promise<UnreadableFile[]> {
  const out: UnreadableFile[] = [];
  for (const [key, file] of _named(config)) {
    if (file === undefined) continue;
    try {
      const info = await Deno.stat(file);
      if (!info.isFile) {
        out.push({ key, file, why: info.isDirectory ? "is a directory" : "is not a regular file" });
        continue;
      }
      (await Deno.open(file, { read: true })).close();
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound
        ? "file not found"
        : err instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : err instanceof Error
        ? err.message
        : String(err);
      out.push({ key, file, why });
    }
  }
  return out;
}

/** One line for all of them: `mqtt.tls.caFile /etc/x.pem: file not found; ...`. */
export function describeUnreadable(files: readonly UnreadableFile[]): string {
  return files.map((f) => `${f.key} ${f.file}: ${f.why}`).join("; ");
}
