/**
 * URLs in logs and messages.
 * @module
 */

/** `url` with any password masked, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(invalid url)";
  }
}

/**
 * Only the scheme and host of `url`, for logs and metric labels: everything
 * else (user, path, query) may be a secret, as a Slack webhook's path is.
 *
 * @example
 * ```ts
 * originOnly("https://hooks.slack.com/services/T0/B0/XXXX"); // "https://hooks.slack.com/…"
 * originOnly("http://127.0.0.1:8080"); // "http://127.0.0.1:8080"
 * ```
 */
export function originOnly(url: string): string {
  try {
    const u = new URL(url);
    const hidden = u.username !== "" || u.pathname.length > 1 || u.search !== "" || u.hash !== "";
    return `${u.protocol}//${u.host}${hidden ? "/…" : ""}`;
  } catch {
    return "(invalid url)";
  }
}
