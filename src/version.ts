/**
 * The version of mandrill, reported by `mandrill version` and in heartbeats.
 * @module
 */

/** The version of this build of mandrill. */
export const VERSION = "0.1.0";
