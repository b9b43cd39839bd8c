/**
 * The policy gate's skip reasons, reduced to a small fixed set of metric labels.
 * @module
 */

/** Every value of the `reason` label of `mandrill_skips_total` (a small fixed set). */
export const SKIP_REASON_LABELS = [
  "unknown_host",
  "dry_run",
  "busy",
  "min_interval",
  "min_uptime",
  "max_per_hour",
  "window",
  "paused",
  "other",
] as const;
/** One value of the `reason` label of `mandrill_skips_total`. */
export type SkipReasonLabel = typeof SKIP_REASON_LABELS[number];

/**
 * Maps the policy gate's free-text skip reason (see `decide()` in
 * `src/pipeline/policy.ts`) to a fixed label, so the metric's cardinality stays
 * bounded whatever the text says. Anything unrecognised is `"other"`.
 * @example
 * ```ts
 * skipReasonLabel("restarted 12s ago, less than minIntervalSec (3600s)"); // "min_interval"
 * ```
 */
export function skipReasonLabel(detail: string | undefined): SkipReasonLabel {
  const d = (detail ?? "").trim().toLowerCase();
  if (d.startsWith("unknown host")) return "unknown_host";
  if (d.startsWith("dry run") || d.startsWith("dry-run")) return "dry_run";
  if (d.startsWith("host already being restarted")) return "busy";
  if (d.includes("minintervalsec")) return "min_interval";
  if (d.includes("minuptimesec") || d.startsWith("uptime")) return "min_uptime";
  if (d.startsWith("maxperhour")) return "max_per_hour";
  if (d.startsWith("outside the allowed time window") || d.startsWith("excluded date")) {
    return "window";
  }
  if (d.startsWith("paused")) return "paused";
  return "other";
}
