/**
 * MQTT topic-filter matching for routing incoming messages.
 * @module
 */

/** Strips a `$share/<group>/` prefix: what the broker actually delivers on. */
export function unshared(filter: string): string {
  if (!filter.startsWith("$share/")) return filter;
  const rest = filter.slice("$share/".length);
  const slash = rest.indexOf("/");
  return slash < 0 ? rest : rest.slice(slash + 1);
}

/** True when `topic` matches the MQTT topic filter `filter` (`+` and `#` wildcards). */
export function topicMatches(filter: string, topic: string): boolean {
  return compileFilter(filter)(topic);
}

/** The one topic `filter` matches when it has no wildcards (after `$share/<group>/`), else undefined. */
export function plainTopic(filter: string): string | undefined {
  const plain = unshared(filter);
  const f = plain.split("/");
  return f.includes("+") || f.includes("#") ? undefined : plain;
}

/**
 * A matcher for one topic filter, parsed once: routing runs it on every
 * message. A filter without wildcards is a plain string comparison.
 */
export function compileFilter(filter: string): (topic: string) => boolean {
  const plain = plainTopic(filter);
  if (plain !== undefined) return (topic) => topic === plain;
  const f = unshared(filter).split("/");
  return (topic) => {
    const t = topic.split("/");
    for (let i = 0; i < f.length; i++) {
      const part = f[i];
      if (part === "#") return true;
      if (i >= t.length) return false;
      if (part !== "+" && part !== t[i]) return false;
    }
    return f.length === t.length;
  };
}
