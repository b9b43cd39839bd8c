/**
 * What every scenario builds its figures with: a collector of figures (with
 * ratios to a ceiling), goals checked against them, and a runner that repeats
 * one measurement `ctx.runs` times with a progress line per run.
 * @module
 */
import type { BenchContext } from "./context.ts";
import type { Goal } from "./report.ts";
import { type Figure, figure, median } from "./stats.ts";

/** One figure to add: everything but the summary, which is computed. */
export type FigureSpec = Omit<Figure, "scenario" | "median" | "min" | "max">;

/** Collects the figures and goals of one bench. */
export class Figures {
  readonly list: Figure[] = [];
  readonly goals: Goal[] = [];

  /** Adds one figure of `scenario`; returns it (with its median). */
  add(scenario: string, spec: FigureSpec): Figure {
    const f = figure({ scenario, ...spec });
    this.list.push(f);
    return f;
  }

  /**
   * Each of `runs` divided by the median of `ceiling`; nothing when there is
   * no ceiling. Returns the figure, if added.
   */
  ratio(
    scenario: string,
    metric: string,
    runs: number[],
    ceiling: number[],
    note: string,
  ): Figure | undefined {
    if (ceiling.length === 0) return undefined;
    const c = median(ceiling);
    return this.add(scenario, {
      metric,
      unit: "×",
      runs: runs.map((r) => r / c),
      higherIsBetter: true,
      note,
    });
  }

  /**
   * Records whether `f` reaches `target` (at least, or at most when lower is
   * better): its median, or with `worst` its worst run.
   */
  goal(f: Figure | undefined, o: { what: string; target: number; worst?: boolean }): void {
    if (f === undefined) return;
    const value = !o.worst ? f.median : f.higherIsBetter ? f.min : f.max;
    const met = f.higherIsBetter ? value >= o.target : value <= o.target;
    this.goals.push({
      scenario: f.scenario,
      what: o.what,
      target: o.target,
      value,
      unit: f.unit,
      higherIsBetter: f.higherIsBetter ?? false,
      met,
    });
  }
}

/** Runs `step.run` `ctx.runs` times, one progress line each. */
export async function repeat<T>(
  ctx: BenchContext,
  step: { name: string; run: () => Promise<T>; describe?: (r: T) => string },
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    const t0 = performance.now();
    const r = await step.run();
    out.push(r);
    const sec = ((performance.now() - t0) / 1000).toFixed(1);
    const extra = step.describe ? `, ${step.describe(r)}` : "";
    ctx.progress(`${step.name} run ${i + 1}/${ctx.runs}: ${sec} s${extra}`);
  }
  return out;
}
