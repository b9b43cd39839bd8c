/**
 * Config files of `mandrill run` and `mandrill agent`: strict zod schemas with
 * defaults, `${ENV}` expansion, and errors that list every mistake with its path.
 *
 * @example
 * ```ts
 * import { ConfigError, loadConfig } from "./src/config/mod.ts";
 * try {
 *   const config = await loadConfig("/etc/mandrill/mandrill.json");
 * } catch (error) {
 *   if (error instanceof ConfigError) console.error(error.message); // one line per issue
 * }
 * ```
 * @module
 */
export { type Config, type ConfigInput, configSchema, hostEntrySchema } from "./schema.ts";
export { type AgentConfig, agentConfigSchema } from "./agent_schema.ts";
export {
  agentExecutorSchema,
  commandExecutorSchema,
  executorSchema,
  sshExecutorSchema,
} from "./executors_schema.ts";
export { chaosGroupSchema, chaosSchema, WEEK_DAYS, windowSchema } from "./chaos_schema.ts";
export { LOG_LEVELS } from "./mqtt_schema.ts";
export { parseAgentConfig, parseConfig, type ParseConfigOptions } from "./parse.ts";
export { loadAgentConfig, loadConfig, type LoadConfigOptions } from "./load.ts";
export { ConfigError, type ConfigErrorOptions, type ConfigIssue, formatPath } from "./error.ts";
export { type EnvExpansion, expandEnv } from "./env.ts";
export { isDuration, parseDuration } from "./duration.ts";
export { CONFIG_SCHEMA_ID, configJsonSchema, configJsonSchemaText } from "./json_schema.ts";
export { describeUnreadable, type UnreadableFile, unreadableFiles } from "./files.ts";
