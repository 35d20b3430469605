// @ts-check
// Keyboard reach for a uPlot chart: zoom and pan buttons beside it, the same by keys while
// the chart has focus (+ / - zoom around the centre of the shown x range, the arrow keys
// pan, 0 resets), and each series' legend name a toggle button (Enter or Space hides or
// shows the series). uPlot itself answers only the mouse (drag, double-click, click).
import { h } from "./dom.js";

/** @typedef {import("uplot/dist/uPlot")} UPlot */

/** The share of the shown x range that one arrow key press moves it by. */
const PAN = 0.25;
/** Zoom in stops at this share of the whole x range (a few points stay in view). */
const NARROWEST = 1 / 1024;

/**
 * Show [min, max] of the x scale, kept inside the data's whole x range.
 * @param {UPlot} plot
 * @param {number} min
 * @param {number} max
 */
function showX(plot, min, max) {
  const xs = plot.data[0];
  const [first, last] = [xs[0], xs[xs.length - 1]];
  const span = Math.min(max - min, last - first);
  const low = Math.min(Math.max(min, first), last - span);
  plot.setScale("x", { min: low, max: low + span });
}

/**
 * What a zoom or pan control does to the shown x range.
 * @param {UPlot} plot
 * @param {"in" | "out" | "left" | "right" | "reset"} action
 */
export function moveX(plot, action) {
  const xs = plot.data[0];
  if (xs.length < 2) return;
  const { min = xs[0], max = xs[xs.length - 1] } = plot.scales.x;
  const [centre, span] = [(min + max) / 2, max - min];
  const whole = xs[xs.length - 1] - xs[0];
  if (action === "reset") showX(plot, xs[0], xs[xs.length - 1]);
  else if (action === "in" && span / 2 >= whole * NARROWEST) showX(plot, centre - span / 4, centre + span / 4);
  else if (action === "out") showX(plot, centre - span, centre + span);
  else if (action === "left") showX(plot, min - span * PAN, max - span * PAN);
  else if (action === "right") showX(plot, min + span * PAN, max + span * PAN);
}

/** @type {Record<string, "in" | "out" | "left" | "right" | "reset">} */
const KEYS = { "+": "in", "=": "in", "-": "out", _: "out", ArrowLeft: "left", ArrowRight: "right", 0: "reset", Home: "reset" };

/**
 * Make the chart box focusable with zoom and pan keys, and add its zoom buttons.
 * @param {UPlot} plot
 * @param {HTMLElement} box the element uPlot was drawn into
 * @param {string} title the metric, for the accessible names
 */
export function keyboardZoom(plot, box, title) {
  box.tabIndex = 0;
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", `chart of ${title}: + and - zoom, arrow keys pan, 0 resets`);
  box.addEventListener("keydown", (event) => {
    const action = KEYS[event.key];
    // Keys pressed on the buttons and legend toggles inside are theirs, not the chart's.
    if (event.target !== box || !action || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    moveX(plot, action);
  });
  /** @param {string} text @param {string} label @param {"in" | "out" | "reset"} action */
  const button = (text, label, action) =>
    h("button", { type: "button", class: "small", "aria-label": `${label} ${title}`, onclick: () => moveX(plot, action) }, text);
  box.append(h("div", { class: "chart-zoom" },
    button("+", "zoom in on", "in"), button("−", "zoom out of", "out"), button("reset", "reset the zoom of", "reset")));
}

/**
 * Each series' legend name as a toggle button; call again after a series is shown or hidden
 * (uPlot's setSeries hook) so aria-pressed follows a mouse click too.
 * @param {UPlot} plot
 */
export function markLegend(plot) {
  const rows = plot.root.querySelectorAll(".u-legend tr.u-series");
  plot.series.forEach((series, i) => {
    const name = rows[rows.length - plot.series.length + i]?.querySelector("th");
    if (!i || !name) return;
    name.setAttribute("aria-pressed", String(series.show !== false));
    if (name.tabIndex === 0) return;
    name.tabIndex = 0;
    name.setAttribute("role", "button");
    name.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      plot.setSeries(i, { show: plot.series[i].show === false });
    });
  });
}
