// @ts-check
// The columns of the runs table: the built-in ones, a column per chosen parameter
// ("param:General/lr") and per chosen metric series and value ("metric:val/acc", its
// last value; "metric_min:", "metric_max:" its smallest and largest), and the chooser
// that picks them (kept in localStorage).
import { ago, duration, h, show, statusBadge, taskLink } from "../dom.js";
import { flatParams } from "../params.js";

/** A task summary as GET /tasks?view=summary sends it. @typedef {Record<string, any>} Row */
/**
 * A column: key, heading, cell, and the server's sort for it (GET /tasks?sort=) if any.
 * @typedef {{key: string, label: string, cell: (t: Row) => import("../dom.js").Child, sort?: string, class?: string}} Column
 */

/** @param {Row} task */
function runtime(task) {
  if (!task.started) return null;
  const end = task.finished ? Date.parse(task.finished) : Date.now();
  return (end - Date.parse(task.started)) / 1000;
}

/** @type {Column[]} */
export const BUILT_IN = [
  { key: "name", label: "Name", sort: "name", cell: (t) => taskLink(t.id, t.name) },
  { key: "id", label: "ID", cell: (t) => h("code", { class: "muted" }, t.id.slice(0, 8)) },
  { key: "status", label: "Status", cell: (t) => statusBadge(t) },
  { key: "project", label: "Project", cell: (t) => t.project },
  { key: "queue", label: "Queue", cell: (t) => t.queue || "" },
  { key: "owner", label: "Owner", cell: (t) => t.owner || "" },
  { key: "tags", label: "Tags", cell: (t) => t.tags.map((/** @type {string} */ tag) => h("span", { class: "tag" }, tag)) },
  { key: "commit", label: "Commit", cell: (t) => h("code", { class: "muted" }, (t.commit || "").slice(0, 10)) },
  { key: "created", label: "Created", sort: "created", cell: (t) => ago(t.created) },
  { key: "started", label: "Started", sort: "started", cell: (t) => (t.started ? ago(t.started) : "") },
  { key: "finished", label: "Finished", sort: "finished", cell: (t) => (t.finished ? ago(t.finished) : "") },
  { key: "runtime", label: "Runtime", cell: (t) => duration(runtime(t)) },
];

export const DEFAULT_COLUMNS = ["name", "id", "status", "project", "owner", "queue", "tags", "created", "finished", "runtime"];

/** @param {number} v */
const number = (v) => String(Number(v.toPrecision(6)));

/**
 * The metric column kinds: the key's prefix (also the server's sort), the summary field
 * holding its values (GET /tasks?view=summary&metrics=…) and the heading's suffix.
 */
export const METRIC_KINDS = [
  { prefix: "metric:", field: "metrics", suffix: "" },
  { prefix: "metric_min:", field: "metrics_min", suffix: " (min)" },
  { prefix: "metric_max:", field: "metrics_max", suffix: " (max)" },
];

/**
 * The metric kind and series of a column key, or null for another column.
 * @param {string} key
 */
export function metricColumn(key) {
  const kind = METRIC_KINDS.find((k) => key.startsWith(k.prefix));
  return kind ? { ...kind, series: key.slice(kind.prefix.length) } : null;
}

/**
 * The column for a key: built-in, "param:Section/key" or a metric ("metric:series",
 * "metric_min:series", "metric_max:series").
 * @param {string} key
 * @returns {Column | null}
 */
export function columnFor(key) {
  const builtIn = BUILT_IN.find((c) => c.key === key);
  if (builtIn) return builtIn;
  if (key.startsWith("param:")) {
    const path = key.slice(6);
    return { key, label: path, class: "col-param", sort: key, cell: (t) => {
      const found = flatParams(t.params).find(([p]) => p === path);
      return found ? h("code", {}, show(found[1])) : h("span", { class: "muted" }, "—");
    } };
  }
  const metric = metricColumn(key);
  if (metric) {
    const { series, field } = metric;
    return { key, label: series + metric.suffix, class: "col-metric num", sort: key, cell: (t) => {
      const values = t[field] || {};
      return Object.hasOwn(values, series) ? h("span", { title: String(values[series]) }, number(values[series])) : "";
    } };
  }
  return null;
}

/**
 * A disclosure with a checkbox per column; onChange gets the chosen keys in order.
 * @param {string[]} chosen
 * @param {{params: string[], metrics: string[]}} known param paths and metric series to offer
 * @param {(keys: string[]) => void} onChange
 */
export function columnChooser(chosen, known, onChange) {
  const picked = new Set(chosen);
  /** @param {string} key @param {string} label @param {string} [name] its accessible name, when not the label */
  const box = (key, label, name) => {
    const input = h("input", { type: "checkbox", name: "column", value: key, checked: picked.has(key), "aria-label": name });
    input.addEventListener("change", () => {
      if (input.checked) picked.add(key);
      else picked.delete(key);
      // Built-ins keep their order; chosen params and metrics follow in the order picked.
      const order = [...BUILT_IN.map((c) => c.key).filter((k) => picked.has(k)), ...[...picked].filter((k) => !BUILT_IN.some((c) => c.key === k))];
      onChange(order);
    });
    return h("label", { class: "inline" }, input, " ", label);
  };
  const extra = [...new Set([...known.params.map((p) => `param:${p}`), ...known.metrics.map((m) => `metric:${m}`), ...chosen.filter((k) => !BUILT_IN.some((c) => c.key === k))])];
  const params = extra.filter((k) => k.startsWith("param:"));
  // One row per series: its last value, min and max, each a column of its own.
  const series = [...new Set(extra.map((k) => metricColumn(k)?.series).filter((s) => s !== undefined))];
  /** @param {string} name */
  const metricRow = (name) => h("div", { class: "metric-choice" },
    METRIC_KINDS.map((k) => (k.suffix ? box(k.prefix + name, k.suffix.trim().slice(1, -1), name + k.suffix) : box(k.prefix + name, name))));
  return h("details", { class: "chooser", id: "column-chooser" },
    h("summary", { class: "button" }, "Columns"),
    h("div", { class: "chooser-body" },
      h("fieldset", {}, h("legend", {}, "Run"), BUILT_IN.map((c) => box(c.key, c.label))),
      h("fieldset", {}, h("legend", {}, "Parameters"), params.length ? params.map((k) => box(k, k.slice(6))) : h("span", { class: "muted" }, "none on this page")),
      h("fieldset", {}, h("legend", {}, "Metrics (last value, min, max)"), series.length ? series.map(metricRow) : h("span", { class: "muted" }, "none logged"))));
}
