// @ts-check
// Metric charts drawn by uPlot (vendored under /static/vendor/uplot, loaded on the first
// chart): several runs overlaid on shared axes, x by step or by time since each run's
// first point, smoothing, a log scale, drag to zoom (double-click resets; chart_keys.js
// gives the same by keyboard), values in the legend under the chart rather than over it.
import { keyboardZoom, markLegend } from "./chart_keys.js";
import { h } from "./dom.js";

export const PALETTE = ["#2f6fde", "#e0672b", "#2a9d5c", "#9b4dca", "#d4a017", "#d43d6a", "#1a9fb0", "#6b6b6b"];

/** @typedef {typeof import("uplot/dist/uPlot")} UPlotClass */
/** @typedef {import("uplot/dist/uPlot").Options} UPlotOptions */
/** @typedef {import("uplot/dist/uPlot").AlignedData} AlignedData */
/** A point as the API sends it. @typedef {{step?: number | null, value: number, ts?: number}} Point */
/** A series of one run (dash: a dashed stroke that sets it apart): @typedef {{name: string, color: string, points: Point[], dash?: number[]}} Line */
/** How a chart is drawn. @typedef {{x: "step" | "time", log: boolean, smooth: number}} ChartSettings */

const BASE = "/static/vendor/uplot/";
const STEP_INCREMENTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7];

/** @type {Promise<UPlotClass> | null} */
let loading = null;

/**
 * uPlot, loaded once as a classic script and stylesheet from this server (no inline code,
 * so a strict Content-Security-Policy allows it).
 * @returns {Promise<UPlotClass>}
 */
export function loadUplot() {
  loading = loading || new Promise((resolve, reject) => {
    document.head.append(h("link", { rel: "stylesheet", href: `${BASE}uPlot.min.css` }));
    const script = h("script", { src: `${BASE}uPlot.iife.min.js` });
    script.addEventListener("load", () => resolve(/** @type {any} */ (window).uPlot));
    script.addEventListener("error", () => {
      loading = null;
      reject(new Error("the chart library did not load"));
    });
    document.head.append(script);
  });
  return loading;
}

/**
 * Exponential moving average with TensorBoard's debiasing, so the first points are not
 * pulled towards zero. weight 0 returns the values as they are.
 * @param {number[]} values
 * @param {number} weight in [0, 1)
 * @returns {number[]}
 */
export function smooth(values, weight) {
  if (!weight) return values;
  let last = 0;
  return values.map((v, i) => {
    last = last * weight + (1 - weight) * v;
    return last / (1 - weight ** (i + 1));
  });
}

/**
 * One run's [xs, ys] under the settings: x is the step (else the position) or seconds
 * since the run's first point; a log scale drops values it cannot show (≤ 0).
 * @param {Point[]} points
 * @param {ChartSettings} settings
 * @returns {[number[], (number | null)[]]}
 */
function table(points, settings) {
  const t0 = points.length ? points[0].ts ?? 0 : 0;
  const xs = points.map((p, i) => (settings.x === "time" ? (p.ts ?? t0) - t0 : p.step ?? i));
  const ys = smooth(points.map((p) => p.value), settings.smooth);
  // uPlot wants x ascending; a series logged out of step order is sorted here.
  const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
  return [order.map((i) => xs[i]), order.map((i) => (settings.log && ys[i] <= 0 ? null : ys[i]))];
}

/** @param {string} name */
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";

/**
 * A chart of one metric for several runs, in a box that keeps its width in step with the page.
 * @param {UPlotClass} uPlot
 * @param {string} title
 * @param {Line[]} lines runs without points are left out
 * @param {ChartSettings} settings
 * @returns {{el: HTMLElement, destroy: () => void}}
 */
export function metricChart(uPlot, title, lines, settings) {
  const shown = lines.filter((line) => line.points.length);
  const box = h("div", { class: "chart-box", dataset: { series: title } });
  if (!shown.length) return { el: box, destroy: () => {} };
  const tables = shown.map((line) => table(line.points, settings));
  const data = /** @type {AlignedData} */ (tables.length === 1 ? tables[0] : uPlot.join(/** @type {AlignedData[]} */ (tables)));
  const axis = axisStyle();
  /** @type {UPlotOptions} */
  const options = {
    title,
    width: 480,
    height: 240,
    scales: { x: { time: false }, y: settings.log ? { distr: 3 } : {} },
    // Steps are whole numbers: a tick at step 0.5 would name a point that cannot exist.
    axes: [{ ...axis, label: settings.x === "time" ? "seconds since the run's first point" : "step", ...(settings.x === "step" ? { incrs: STEP_INCREMENTS } : {}) }, axis],
    series: [
      { label: settings.x === "time" ? "s" : "step" },
      ...shown.map((line) => ({ label: line.name, stroke: line.color, width: 2, dash: line.dash, spanGaps: true, points: { show: line.points.length <= 40 } })),
    ],
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
    // The shown x range and the y scale, on the box: what a zoom did is readable in the page.
    hooks: { setScale: [(u, key) => {
      if (key === "x") box.dataset.xRange = `${u.scales.x.min},${u.scales.x.max}`;
    }], setSeries: [markLegend] },
  };
  box.dataset.scale = settings.log ? "log" : "linear";
  box.dataset.x = settings.x;
  const plot = new uPlot(options, data, box);
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

/** How every chart's axes look, in the page's colours. */
export function axisStyle() {
  return { stroke: cssVar("--muted"), grid: { stroke: cssVar("--line") }, ticks: { stroke: cssVar("--line") } };
}

/**
 * Keep a 240 px high plot as wide as its box; returns what stops that.
 * @param {import("uplot/dist/uPlot")} plot
 * @param {HTMLElement} box
 * @returns {() => void}
 */
export function followWidth(plot, box) {
  const fit = () => {
    const width = Math.max(260, box.clientWidth - 12);
    if (Math.abs(width - plot.width) > 4) plot.setSize({ width, height: 240 });
  };
  const watcher = new ResizeObserver(fit);
  watcher.observe(box);
  return () => watcher.disconnect();
}

/**
 * The controls that set a ChartSettings; onChange is called with the new settings.
 * @param {ChartSettings} settings
 * @param {(settings: ChartSettings) => void} onChange
 */
export function chartControls(settings, onChange) {
  const x = h("select", { name: "chart-x", "aria-label": "x axis" },
    h("option", { value: "step", selected: settings.x === "step" }, "x: step"),
    h("option", { value: "time", selected: settings.x === "time" }, "x: time"));
  const log = h("input", { type: "checkbox", name: "chart-log", checked: settings.log });
  const smoothing = h("input", { type: "range", name: "chart-smooth", min: 0, max: 0.99, step: 0.01, value: settings.smooth, "aria-label": "smoothing" });
  const shownSmooth = h("span", { class: "muted" }, String(settings.smooth));
  const changed = () => {
    shownSmooth.textContent = smoothing.value;
    onChange({ x: x.value === "time" ? "time" : "step", log: log.checked, smooth: Number(smoothing.value) });
  };
  x.addEventListener("change", changed);
  log.addEventListener("change", changed);
  smoothing.addEventListener("change", changed);
  smoothing.addEventListener("input", () => (shownSmooth.textContent = smoothing.value));
  return h("div", { class: "toolbar chart-controls" }, x,
    h("label", { class: "inline" }, log, " log scale"),
    h("label", { class: "inline" }, "smoothing ", smoothing, shownSmooth),
    h("span", { class: "muted" }, "drag across a chart to zoom, double-click to reset; on a focused chart + and - zoom, arrow keys pan, 0 resets"));
}

/**
 * A legend of coloured names.
 * @param {{name: string, color: string}[]} entries
 * @returns {HTMLDivElement}
 */
export function legend(entries) {
  return h("div", { class: "legend" }, entries.map(({ name, color }) => h("span", {}, h("i", { style: { background: color } }), name)));
}
