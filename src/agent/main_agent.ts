/**
 * Entry point running `mandrill agent` on its own:
 * `deno run -A src/agent/main_agent.ts --config agent.json`.
 * (`mandrill agent` in main.ts runs the same {@linkcode agentCommand}.)
 * @module
 */
import { agentCommand } from "../cli/agent.ts";

if (import.meta.main) Deno.exit(await agentCommand(Deno.args));
