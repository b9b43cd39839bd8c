/**
 * "Did you mean ...?" suggestions for misspelt keys and names.
 * @module
 */

/** Edit distance between `a` and `b` (insertions, deletions, substitutions each cost 1). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate closest to `word`, or `undefined` when none is close enough to
 * be a plausible typo: at most about a third of the word changed, or one is a
 * prefix of the other (`timeout` for `timeoutSec`). Case counts for little.
 *
 * @example
 * ```ts
 * closest("maxConcurent", ["maxConcurrent", "dryRun"]); // "maxConcurrent"
 * ```
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const limit = Math.max(2, Math.ceil(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const other = candidate.toLowerCase();
    let distance = other === lower ? 0.5 : levenshtein(lower, other);
    const isPrefix = Math.min(lower.length, other.length) >= 3 &&
      (other.startsWith(lower) || lower.startsWith(other));
    // A missing unit suffix is a plausible slip even when many letters differ.
    if (distance > limit && isPrefix) distance = limit;
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/**
 * A sentence fragment pointing at the right spelling: `; did you mean "ssh"?`,
 * or the list of valid choices when nothing is close (empty when there are none).
 */
export function suggestion(word: string, candidates: readonly string[]): string {
  const best = closest(word, candidates);
  if (best !== undefined) return `; did you mean ${JSON.stringify(best)}?`;
  if (candidates.length === 0) return "";
  return `; expected one of ${candidates.map((c) => JSON.stringify(c)).join(", ")}`;
}
