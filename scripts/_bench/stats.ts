/**
 * Summaries of repeated measurements (median, min, max) and percentiles.
 * @module
 */

/** One figure of the bench: every run's value and their summary. */
export interface Figure {
  /** Scenario, e.g. "pipeline". */
  scenario: string;
  /** What is measured, e.g. "throughput". */
  metric: string;
  unit: string;
  /** Each run's value, in run order. */
  runs: number[];
  median: number;
  min: number;
  max: number;
  /** How to read it, caveats. */
  note?: string;
  /** True when a larger value is better (throughputs). */
  higherIsBetter?: boolean;
}

/** Median of `xs` (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile `p` (0..100) of an ascending-sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Builds a {@linkcode Figure} from per-run values. */
export function figure(what: Omit<Figure, "median" | "min" | "max">): Figure {
  return {
    ...what,
    median: median(what.runs),
    min: Math.min(...what.runs),
    max: Math.max(...what.runs),
  };
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}
