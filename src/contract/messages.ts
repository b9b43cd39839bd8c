/**
 * The payloads of DESIGN.md's external contract, as zod schemas and types.
 * @module
 */
import { z } from "zod";
import { hostSchema, idSchema } from "./ids.ts";

/** A restart request on `{p}/restart`. */
export const restartRequestSchema = z.object({
  id: idSchema,
  host: hostSchema,
  reason: z.string().max(1024).optional(),
  requestedBy: z.string().max(256).optional(),
  dryRun: z.boolean().optional(),
});
/** A validated restart request. */
export type RestartRequest = z.infer<typeof restartRequestSchema>;

/** An agent heartbeat on `{p}/agents/{host}/heartbeat`. */
export const heartbeatSchema = z.object({
  host: hostSchema,
  bootId: z.string().min(1).max(128),
  uptimeSec: z.number().nonnegative(),
  version: z.string().max(64),
  ts: z.number(),
});
/** A validated heartbeat. */
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** An agent status on `{p}/agents/{host}/status` (retained, also the last will). */
export const agentStatusSchema = z.object({
  state: z.enum(["online", "offline"]),
  bootId: z.string().min(1).max(128).optional(),
  ts: z.number(),
});
/** A validated agent status. */
export type AgentStatus = z.infer<typeof agentStatusSchema>;

/**
 * A command from mandrill to an agent on `{p}/agents/{host}/commands`, signed
 * by the controller (`sig`, Ed25519 over a canonical encoding of every other
 * field; see `src/security/`). Times are ms since the epoch.
 */
export const agentCommandSchema = z.object({
  id: idSchema,
  action: z.literal("restart"),
  reason: z.string().max(1024).optional(),
  host: hostSchema,
  issuedAt: z.number().int().nonnegative(),
  expiresAt: z.number().int().nonnegative(),
  sig: z.string().max(200).optional(),
});
/** A validated agent command. */
export type AgentCommand = z.infer<typeof agentCommandSchema>;

/** An agent's answer on `{p}/agents/{host}/results`. */
export const agentResultSchema = z.object({
  id: idSchema,
  ok: z.boolean(),
  detail: z.string().max(4096).optional(),
});
/** A validated agent result. */
export type AgentResult = z.infer<typeof agentResultSchema>;

/** Every phase a request goes through, as published on `{p}/events`. */
export const PHASES = [
  "received",
  "rejected",
  "skipped",
  "started",
  "succeeded",
  "failed",
  "interrupted",
  "recovered",
] as const;
/** One phase of a request's life. */
export type Phase = typeof PHASES[number];

/** An event on `{p}/events`. */
export interface RestartEvent {
  id: string;
  host: string;
  phase: Phase;
  detail?: string;
  ts: number;
}

/** A dead letter on `{p}/deadletter`. */
export interface DeadLetter {
  topic: string;
  /** The payload as text, cut at 4 KiB. */
  payload: string;
  error: string;
  ts: number;
}
