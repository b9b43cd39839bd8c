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
