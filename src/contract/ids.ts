/**
 * Validators for the identifiers that cross the wire: message ids and host names.
 *
 * Host names are the only piece of a message that may ever reach a command line,
 * so they are held to RFC 1123 and nothing looser.
 * @module
 */
import { z } from "zod";

/** Longest message id accepted (DESIGN.md: 1–128 characters). */
export const MAX_ID_LENGTH = 128;
/** Longest host name accepted (RFC 1123). */
export const MAX_HOST_LENGTH = 253;

const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True when `id` is a valid message id: 1–128 of `[A-Za-z0-9._:-]`. */
export function isValidId(id: unknown): id is string {
  return typeof id === "string" && ID_RE.test(id);
}

/**
 * True when `host` is an RFC 1123 host name of at most 253 characters:
 * dot-separated labels of letters, digits and inner hyphens, each 1–63 long.
 */
export function isValidHost(host: unknown): host is string {
  if (typeof host !== "string" || host.length === 0 || host.length > MAX_HOST_LENGTH) return false;
  return host.split(".").every((label) => LABEL_RE.test(label));
}

/** zod schema of a message id. */
export const idSchema: z.ZodType<string> = z.string().refine(isValidId, {
  message: "must be 1-128 characters of [A-Za-z0-9._:-]",
});

/** zod schema of an RFC 1123 host name. */
export const hostSchema: z.ZodType<string> = z.string().refine(isValidHost, {
  message: "must be an RFC 1123 host name of at most 253 characters",
});
