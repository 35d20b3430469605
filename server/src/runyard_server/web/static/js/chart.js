// @ts-check
// Line charts drawn as SVG by hand: one or more series on shared axes, with a legend.
const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2f6fde", "#e0672b", "#2a9d5c", "#9b4dca", "#d4a017", "#d43d6a", "#1a9fb0", "#6b6b6b"];

/** A series: @typedef {{name: string, color: string, points: {step?: number | null, value: number}[]}} Line */

/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 * @returns {SVGElement}
 */
function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * About five round tick values covering [lo, hi].
 * @param {number} lo
 * @param {number} hi
 * @returns {number[]}
 */
export function ticks(lo, hi, count = 5) {
  if (lo === hi) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** @param {number} v */
function label(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** x of a point: its step, else its position in the series. @type {(point: Line["points"][number], i: number) => number} */
const xOf = (point, i) => (point.step ?? i);

/**
 * An SVG chart. lines: [{name, color, points: [{step, value}]}].
 * Hovering shows the nearest point's values in a tooltip line.
 * @param {string} title
 * @param {Line[]} lines
 * @param {{width?: number, height?: number}} [size]
 * @returns {SVGElement}
 */
export function lineChart(title, lines, { width = 520, height = 240 } = {}) {
  const pad = { l: 56, r: 16, t: 28, b: 34 };
  const all = lines.flatMap((l) => l.points.map((p, i) => [xOf(p, i), p.value]));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  root.append(svg("text", { x: pad.l, y: 17, class: "chart-title" }, title));
  if (!all.length) return root;
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  const yPad = (y1 - y0) * 0.06;
  [y0, y1] = [y0 - yPad, y1 + yPad];
  const sx = (x) => pad.l + ((x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const sy = (y) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);

  for (const t of ticks(y0, y1)) {
    root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: sy(t), y2: sy(t), class: "grid-line" }));
    root.append(svg("text", { x: pad.l - 6, y: sy(t) + 4, class: "tick", "text-anchor": "end" }, label(t)));
  }
  // Steps are whole numbers: a tick at step 0.5 would name a point that cannot exist.
  const xTicks = all.every((p) => Number.isInteger(p[0]))
    ? (x1 - x0 <= 8 ? Array.from({ length: x1 - x0 + 1 }, (_, i) => x0 + i) : ticks(x0, x1, 6).filter(Number.isInteger))
    : ticks(x0, x1, 6);
  for (const t of xTicks) {
    root.append(svg("text", { x: sx(t), y: height - pad.b + 16, class: "tick", "text-anchor": "middle" }, label(t)));
  }
  root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b, class: "axis" }));
  root.append(svg("text", { x: width - pad.r, y: height - 4, class: "tick", "text-anchor": "end" }, "step"));

  for (const line of lines) {
    const d = line.points.map((p, i) => `${i ? "L" : "M"}${sx(xOf(p, i)).toFixed(1)},${sy(p.value).toFixed(1)}`).join("");
    root.append(svg("path", { d, class: "series", stroke: line.color, "data-series": line.name }));
    if (line.points.length <= 40) {
      line.points.forEach((p, i) => root.append(svg("circle", { cx: sx(xOf(p, i)), cy: sy(p.value), r: 2.5, fill: line.color })));
    }
  }
  addHover(root, lines, sx, sy, { pad, width, height });
  return root;
}

/**
 * @param {SVGElement} root
 * @param {Line[]} lines
 * @param {(x: number) => number} sx
 * @param {(y: number) => number} sy
 * @param {{pad: {l: number, r: number, t: number, b: number}, width: number, height: number}} box
 */
function addHover(root, lines, sx, sy, { pad, width, height }) {
  const cursor = svg("line", { y1: pad.t, y2: height - pad.b, class: "hover-line", visibility: "hidden" });
  const tip = svg("text", { x: width - pad.r, y: 17, class: "tick", "text-anchor": "end" });
  root.append(cursor, tip);
  root.addEventListener("mousemove", (/** @type {MouseEvent} */ event) => {
    const box = root.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * width;
    const parts = [];
    /** @type {number | null} */
    let at = null;
    for (const line of lines) {
      /** @type {{d: number, p: Line["points"][number], i: number} | null} */
      let best = null;
      for (const [i, p] of line.points.entries()) {
        const d = Math.abs(sx(xOf(p, i)) - x);
        if (!best || d < best.d) best = { d, p, i };
      }
      if (best) {
        at = at ?? sx(xOf(best.p, best.i));
        parts.push(`${lines.length > 1 ? line.name + ": " : `step ${xOf(best.p, best.i)}: `}${label(best.p.value)}`);
      }
    }
    if (at === null) return;
    cursor.setAttribute("x1", String(at));
    cursor.setAttribute("x2", String(at));
    cursor.setAttribute("visibility", "visible");
    tip.textContent = parts.join("   ");
  });
  root.addEventListener("mouseleave", () => {
    cursor.setAttribute("visibility", "hidden");
    tip.textContent = "";
  });
}

/**
 * A legend of coloured names.
 * @param {{name: string, color: string}[]} entries
 * @returns {HTMLDivElement}
 */
export function legend(entries) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const { name, color } of entries) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = color;
    item.append(swatch, name);
    box.append(item);
  }
  return box;
}
