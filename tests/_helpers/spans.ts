/** Measuring simulated hosts' down time from their own side. */
import type { DownSpan } from "../../src/dev/sim_host.ts";

/** Most hosts down at once across `spans` (an open span lasts until now). */
export function peakDown(spans: readonly DownSpan[]): number {
  const edges = spans.flatMap((s) => [[s.from, 1], [s.to ?? Infinity, -1]] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let down = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, down += d);
  return peak;
}
