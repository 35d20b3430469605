// @ts-check
// Compare tasks side by side: code (commit, args, diff), parameters, packages and final
// metrics with differences marked, and every metric series overlaid, one colour per task.
import { get, seg } from "../api.js";
import { PALETTE, chartControls, legend, loadUplot, metricChart } from "../chart.js";
import { diffStats, diffView } from "../diff.js";
import { badge, card, empty, errorBox, h, setTitle, show, taskLink } from "../dom.js";
import { navigate } from "../router.js";
import { flatParams } from "../params.js";
import { loadJson, storeJson } from "../storage.js";

const MISSING = Symbol("missing");
const SETTINGS_KEY = "runyard.compare.charts";

/**
 * Rows of [key, [value per task]] over the union of keys, first-seen order.
 * @param {[string, unknown][][]} perTask
 * @returns {[string, unknown[]][]}
 */
function union(perTask) {
  /** @type {string[]} */
  const keys = [];
  const seen = new Set();
  for (const entries of perTask) {
    for (const [k] of entries) if (!seen.has(k) && seen.add(k)) keys.push(k);
  }
  const maps = perTask.map((entries) => new Map(entries));
  return keys.map((k) => [k, maps.map((m) => (m.has(k) ? m.get(k) : MISSING))]);
}

/** @param {unknown[]} values */
const differs = (values) => new Set(values.map((v) => (v === MISSING ? "\u0000missing" : JSON.stringify(v)))).size > 1;

/**
 * @param {any[]} tasks
 * @param {[string, unknown[]][]} rows
 * @param {boolean} onlyDiff
 * @param {(value: any) => import("../dom.js").Child} [format]
 */
function sideBySide(tasks, rows, onlyDiff, format = (v) => h("code", {}, show(v))) {
  const visible = rows.filter(([, values]) => !onlyDiff || differs(values));
  if (!visible.length) return empty(onlyDiff ? "No differences." : "Nothing recorded.");
  return h("table", { class: "grid compare" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), tasks.map((t, i) => h("th", {}, h("i", { class: "swatch", style: { background: PALETTE[i % PALETTE.length] } }), taskLink(t.id, t.name))))),
    h("tbody", {}, visible.map(([key, values]) => h("tr", { class: differs(values) ? "differs" : "", dataset: { key } },
      h("th", { scope: "row" }, h("code", {}, key)),
      values.map((v) => h("td", {}, v === MISSING ? h("span", { class: "muted" }, "—") : format(v)))))));
}

/**
 * "name" → "==1.2" for each requirement line ("torch==2.4" → ["torch", "==2.4"]).
 * @param {string[]} requirements
 * @returns {[string, string][]}
 */
function packageRows(requirements) {
  return requirements.map((line) => {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$/.exec(line);
    return m ? [m[1].toLowerCase().replace(/[._]+/g, "-"), `${m[2] || ""}${m[3]}`.trim() || "(any)"] : [line, line];
  });
}

/** What a diff looks like in one cell: its size, and the whole of it on demand. */
function diffCell(/** @type {{text: string}} */ diff) {
  if (!diff.text) return h("span", { class: "muted" }, "none");
  const stats = diffStats(diff.text);
  const added = stats.reduce((n, f) => n + f.added, 0);
  const deleted = stats.reduce((n, f) => n + f.deleted, 0);
  return h("details", { class: "diff-cell" },
    h("summary", {}, `${stats.length} file${stats.length === 1 ? "" : "s"} `, h("span", { class: "d-add" }, `+${added}`), " ", h("span", { class: "d-del" }, `−${deleted}`)),
    diffView(diff.text));
}

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function comparePage(_params, q, root, ctx) {
  // Each task once, in the order given: a repeated id would compare a run with itself.
  const ids = [...new Set((q.ids || "").split(",").map((s) => s.trim()).filter(Boolean))];
  const add = h("input", { name: "add", placeholder: "add a task id", size: 34, "aria-label": "task id to add" });
  const addForm = h("form", { class: "inline-form", onsubmit: (/** @type {Event} */ e) => {
    e.preventDefault();
    if (add.value.trim()) navigate("/compare", { ids: [...ids, add.value.trim()].join(",") });
  } }, add, h("button", { type: "submit" }, "Add"));
  const heading = h("h1", {}, "Compare");
  const errors = h("div");
  root.append(h("div", { class: "page-head" }, heading, h("span", { class: "spacer" }), addForm), errors);
  setTitle("Compare");
  const loaded = await Promise.all(ids.map(async (id) => {
    try {
      const [task, metrics] = await Promise.all([get(`/tasks/${seg(id)}`), get(`/tasks/${seg(id)}/metrics`)]);
      return { id, task, metrics };
    } catch (e) {
      errors.append(errorBox(new Error(`${id}: ${e instanceof Error ? e.message : e}`)));
      return null;
    }
  }));
  // Two spellings (short id, full id) of one task count once too.
  const byId = new Map();
  for (const run of loaded) if (run && !byId.has(run.task.id)) byId.set(run.task.id, run);
  const runs = [...byId.values()];
  heading.textContent = `Compare ${runs.length} task${runs.length === 1 ? "" : "s"}`;
  if (runs.length < 2) {
    root.append(empty("Pick two or more tasks: tick them in the task list and press Compare, or add ids here."));
    if (!runs.length) return;
  }
  const tasks = runs.map((r) => r.task);
  const colors = tasks.map((_, i) => PALETTE[i % PALETTE.length]);
  /** The comparison without one run: drops that entry of the URL, whichever spelling it had. */
  const without = (/** @type {number} */ i) => runs.filter((_, j) => j !== i).map((r) => r.id).join(",");

  const onlyDiff = h("input", { type: "checkbox", name: "only-differences" });
  const code = union(tasks.map((t) => [
    ["repository", t.script.repository], ["commit", t.script.commit || ""], ["branch", t.script.branch || ""],
    ["entry point", t.script.entry_point], ["working dir", t.script.working_dir],
    ["args", t.script.args], ["diff", { text: t.script.diff }],
  ]));
  const details = union(tasks.map((t) => [
    ["status", t.status], ["project", t.project], ["queue", t.queue || ""], ["python", t.environment.python || ""],
    ["docker image", t.environment.docker_image || ""], ["parent", t.parent ? t.parent.slice(0, 8) : ""],
  ]));
  const params = union(tasks.map((t) => flatParams(t.params)));
  const packages = union(tasks.map((t) => packageRows(t.environment.requirements)));
  const finals = union(runs.map((r) => Object.entries(r.metrics.final).sort()));
  /** @param {any} v */
  const codeValue = (v) => (v && typeof v === "object" && "text" in v ? diffCell(v) : Array.isArray(v) ? h("code", {}, v.join(" ") || "(none)") : h("code", {}, show(v)));
  const tables = h("div", { class: "stack" });
  const draw = () => tables.replaceChildren(
    card("Runs", h("div", { class: "run-heads" }, tasks.map((t, i) => h("div", { class: "run-head" },
      h("i", { class: "swatch", style: { background: colors[i] } }), taskLink(t.id, t.name), " ", badge(t.status),
      h("a", { class: "remove", title: "remove from the comparison", "aria-label": `remove ${t.name}`, href: `#/compare?ids=${without(i)}` }, "×"))))),
    h("section", { class: "card", id: "compare-code" }, h("h2", {}, "Code"), sideBySide(tasks, code, onlyDiff.checked, codeValue)),
    h("section", { class: "card", id: "compare-params" }, h("h2", {}, "Parameters"), sideBySide(tasks, params, onlyDiff.checked)),
    h("section", { class: "card", id: "compare-packages" }, h("h2", {}, "Packages"), sideBySide(tasks, packages, onlyDiff.checked)),
    h("section", { class: "card", id: "compare-finals" }, h("h2", {}, "Final metrics"), sideBySide(tasks, finals, onlyDiff.checked, (v) => h("code", { title: String(v) }, String(Number(Number(v).toPrecision(6)))))),
    h("section", { class: "card", id: "compare-details" }, h("h2", {}, "Details"), sideBySide(tasks, details, onlyDiff.checked)));
  onlyDiff.addEventListener("change", draw);
  draw();

  // Own keys only: a series named "constructor" must not find Object.prototype's.
  const series = [...new Set(runs.flatMap((r) => Object.keys(r.metrics.series)))].sort();
  const chartsBox = h("div", { class: "charts", id: "compare-charts" });
  /** @type {(() => void)[]} */
  let destroy = [];
  const drawCharts = async (/** @type {import("../chart.js").ChartSettings} */ settings) => {
    const uPlot = await loadUplot();
    if (!ctx.alive) return;
    for (const fn of destroy) fn();
    const charts = series.map((name) => metricChart(uPlot, name, runs.map((r, i) => ({
      name: r.task.name,
      color: colors[i],
      points: Object.hasOwn(r.metrics.series, name) ? r.metrics.series[name] : [],
    })), settings));
    destroy = charts.map((c) => c.destroy);
    chartsBox.replaceChildren(...charts.map((c) => c.el));
  };
  ctx.onCleanup(() => destroy.forEach((fn) => fn()));
  /** @type {import("../chart.js").ChartSettings} */
  const settings = { x: "step", log: false, smooth: 0, ...loadJson(SETTINGS_KEY, {}) };
  root.append(
    h("div", { class: "toolbar" }, h("label", { class: "inline" }, onlyDiff, " only rows that differ"), h("span", { class: "legend-note muted" }, "Highlighted rows differ between tasks.")),
    tables,
    h("section", { class: "card curves" }, h("h2", {}, "Metric curves"), series.length
      ? [legend(tasks.map((t, i) => ({ name: t.name, color: colors[i] }))),
        chartControls(settings, (next) => {
          storeJson(SETTINGS_KEY, next);
          drawCharts(next).catch((e) => chartsBox.replaceChildren(errorBox(e)));
        }),
        chartsBox]
      : empty("None of these tasks logged metrics.")));
  if (series.length) await drawCharts(settings).catch((e) => chartsBox.replaceChildren(errorBox(e)));
}
