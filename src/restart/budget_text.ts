/**
 * The unavailability budget's words: why a host is down, and the refusals
 * that name a group (or the fleet) and what is down in it.
 * @module
 */

/** Why a host is unavailable. The first three are held by mandrill's restarts. */
export type Unavailability = "restarting" | "coming_back" | "not_back" | "offline" | "stale";

/** How each {@linkcode Unavailability} reads in a sentence. */
export const UNAVAILABILITY_TEXT: Readonly<Record<Unavailability, string>> = {
  restarting: "restarting",
  coming_back: "coming back",
  not_back: "did not come back",
  offline: "offline",
  stale: "stale",
};

/** The answer of {@linkcode UnavailabilityBudget.check}. */
export type BudgetCheck =
  | { ok: true }
  | { ok: false; code: "group" | "fleet"; reason: string };

const _MAX_NAMED = 5;

/**
 * A refusal whose reason is written only when read (once): requests waiting
 * check again on every change, and most never show their reason.
 */
export function refusal(code: "group" | "fleet", reason: () => string): BudgetCheck {
  let text: string | undefined;
  return {
    ok: false,
    code,
    get reason() {
      return text ??= reason();
    },
  };
}

/** `group web`, or `host web-1` for a host without a group. */
export function groupName(key: string, prefixed = true): string {
  if (key.startsWith("host:")) return prefixed ? `host ${key.slice(5)}` : key.slice(5);
  return prefixed ? `group ${key}` : key;
}

/** "web-2 coming back, web-3 offline" (the first few, then how many more). */
export function listDown(down: ReadonlyMap<string, Unavailability>): string {
  const parts: string[] = [];
  for (const [host, state] of down) {
    if (parts.length === _MAX_NAMED) break;
    parts.push(`${host} ${UNAVAILABILITY_TEXT[state]}`);
  }
  const more = down.size - parts.length;
  return more > 0 ? `${parts.join(", ")} and ${more} more` : parts.join(", ");
}
