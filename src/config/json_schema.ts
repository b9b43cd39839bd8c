/**
 * The JSON Schema of the config file, for editors and `mandrill config schema`.
 * @module
 */
import { z } from "zod";
import { hostSchema } from "../contract/ids.ts";
import { configSchema } from "./schema.ts";

// hostSchema is a refinement, which JSON Schema cannot express: spell it as a pattern.
const HOST_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOST_PATTERN = `^${HOST_LABEL}(?:\\.${HOST_LABEL})*$`;

/** `$id` of the config file's JSON Schema. */
export const CONFIG_SCHEMA_ID = "urn:mandrill:config";

/**
 * The JSON Schema (draft 2020-12) of the config file as written, defaults
 * included. Rules JSON Schema cannot express (cross-field checks, time zones)
 * are enforced only by `mandrill config check`.
 */
export function configJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(configSchema, {
    io: "input",
    override: ({ zodSchema, jsonSchema }) => {
      if ((zodSchema as unknown) === hostSchema) {
        Object.assign(jsonSchema, { maxLength: 253, pattern: HOST_PATTERN });
      }
    },
  });
  return { $schema, $id: CONFIG_SCHEMA_ID, title: "mandrill config", ...rest };
}

/** {@linkcode configJsonSchema} as `mandrill config schema` prints it: 2-space indent, trailing newline. */
export function configJsonSchemaText(): string {
  return JSON.stringify(configJsonSchema(), null, 2) + "\n";
}
