/**
 * URLs in logs and messages.
 * @module
 */

/**
 * `url` with any password masked, for logs and messages. Everything between
 * the user name and the last `@` is masked, so a password holding `@`, `/`,
 * `#` or `?` (which no URL parser splits the way its author meant) is never
 * shown in part.
 *
 * @example
 * ```ts
 * redactUrl("mqtt://svc:p@ss/w#rd@broker:8883"); // "mqtt://svc:***@broker:8883"
 * ```
 */
export function redactUrl(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^:@/?#]*):.*@([^@]*)$/s.exec(url);
  if (m) return `${m[1]}${m[2]}:***@${m[3]}`;
  try {
    return new URL(url).toString();
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
