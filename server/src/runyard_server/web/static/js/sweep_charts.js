// @ts-check
// The sweep page's two charts: each finished trial's objective against when it finished,
// with the best so far as a step line; and every trial's intermediate objective (what
// the pruner saw) overlaid by metricChart, the pruned ones dashed in one colour.
import { PALETTE, axisStyle, followWidth, metricChart } from "./chart.js";
import { keyboardZoom, markLegend } from "./chart_keys.js";
import { h } from "./dom.js";

export const PRUNED_COLOR = "#d43d6a";
const COLORS = PALETTE.filter((c) => c !== PRUNED_COLOR);
const STEP = { x: /** @type {"step"} */ ("step"), log: false, smooth: 0 };

/** @typedef {typeof import("uplot/dist/uPlot")} UPlotClass */
/** @typedef {{number: number, task_id: string | null, status: string, value: number | null, step: number | null, finished: string | null, created: string, params: Record<string, unknown>, reason: string | null}} Trial */
/** @typedef {{number: number, task_id: string | null, status: string, points: [number, number][]}} Curve */

/**
 * Objective per finished trial over time: x in minutes since the sweep started; a
 * pruned trial (which has no objective) at the last value it logged.
 * @param {UPlotClass} uPlot
 * @param {{created: string, direction: string, objective: string}} sweep
 * @param {Trial[]} trials
 * @param {Curve[]} curves
 * @returns {{el: HTMLElement, destroy: () => void}}
 */
export function objectiveChart(uPlot, sweep, trials, curves) {
  const start = Date.parse(sweep.created);
  const cutAt = new Map(curves.filter((c) => c.points.length).map((c) => [c.number, c.points[c.points.length - 1][1]]));
  // An aborted trial's last value is where it was cut off by hand, not a result.
  const done = trials
    .map((t) => (t.status === "pruned" ? { ...t, value: cutAt.get(t.number) ?? null } : t))
    .filter((t) => t.finished && t.value !== null && (t.status === "completed" || t.status === "pruned"))
    .sort((a, b) => Date.parse(a.finished || "") - Date.parse(b.finished || ""));
  const title = `${sweep.objective} per trial`;
  const box = h("div", { class: "chart-box", id: "objective-chart", dataset: { series: title, points: String(done.length) } });
  if (!done.length) return { el: box, destroy: () => {} };
  const better = sweep.direction === "max" ? Math.max : Math.min;
  /** @type {number | null} */
  let best = null;
  const bestSoFar = done.map((t) => (t.status === "completed" ? (best = best === null ? Number(t.value) : better(best, Number(t.value))) : best));
  const only = (/** @type {string} */ status) => done.map((t) => (t.status === status ? t.value : null));
  const dots = (/** @type {string} */ color) => ({ stroke: color, fill: color, paths: () => null, points: { show: true, size: 8, fill: color } });
  const axis = axisStyle();
  const plot = new uPlot({
    title,
    width: 480,
    height: 240,
    scales: { x: { time: false } },
    axes: [{ ...axis, label: "minutes since the sweep started" }, axis],
    series: [
      { label: "min" },
      { label: "completed", ...dots(COLORS[0]) },
      { label: "pruned", ...dots(PRUNED_COLOR) },
      { label: "best so far", stroke: COLORS[1], width: 2, spanGaps: true, points: { show: false }, paths: uPlot.paths.stepped?.({ align: 1 }) },
    ],
    cursor: { drag: { x: true, y: false } },
    hooks: { setSeries: [markLegend] },
  }, [done.map((t) => (Date.parse(t.finished || "") - start) / 60000), only("completed"), only("pruned"), bestSoFar], box);
  keyboardZoom(plot, box, title);
  markLegend(plot);
  const unfollow = followWidth(plot, box);
  return {
    el: box,
    destroy: () => {
      unfollow();
      plot.destroy();
    },
  };
}

/**
 * Every trial's intermediate objective by step, one colour per trial; pruned ones dashed
 * in PRUNED_COLOR and named so in the legend.
 * @param {UPlotClass} uPlot
 * @param {string} objective
 * @param {Curve[]} curves
 */
export function curvesChart(uPlot, objective, curves) {
  const lines = curves.map((c) => {
    const pruned = c.status === "pruned";
    return {
      name: `trial ${c.number}${pruned ? " (pruned)" : ""}`,
      color: pruned ? PRUNED_COLOR : COLORS[c.number % COLORS.length],
      dash: pruned ? [6, 4] : undefined,
      points: c.points.map(([step, value]) => ({ step, value })),
    };
  });
  return metricChart(uPlot, `${objective} by step, every trial`, lines, STEP);
}
