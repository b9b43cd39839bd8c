/**
 * The words for each host state, shared by the status page and
 * `mandrill status`, so both say the same thing.
 * @module
 */
import type { HostState } from "./model.ts";

/** Words for each host state, as an SRE reads them. */
export const STATE_TEXT: Readonly<Record<HostState, string>> = {
  up: "up",
  restarting: "restarting",
  coming_back: "coming back",
  not_back: "did not come back",
  offline: "offline",
  stale: "stale",
  waiting: "waiting",
};
