// @ts-check
// Compare tasks side by side: parameters and final metrics with differences marked,
// and every metric series overlaid, one colour per task.
import { get, seg } from "../api.js";
import { PALETTE, legend, lineChart } from "../chart.js";
import { badge, card, empty, errorBox, h, show, taskLink } from "../dom.js";
import { navigate } from "../router.js";
import { flatParams } from "../params.js";

const MISSING = Symbol("missing");

/** Rows of [key, [value per task]] over the union of keys, first-seen order. */
function union(perTask) {
  const keys = [];
  const seen = new Set();
  for (const entries of perTask) {
    for (const [k] of entries) if (!seen.has(k) && seen.add(k)) keys.push(k);
  }
  const maps = perTask.map((entries) => new Map(entries));
  return keys.map((k) => [k, maps.map((m) => (m.has(k) ? m.get(k) : MISSING))]);
}

const differs = (values) => new Set(values.map((v) => (v === MISSING ? "\u0000missing" : JSON.stringify(v)))).size > 1;

function sideBySide(tasks, rows, onlyDiff, format = show) {
  const visible = rows.filter(([, values]) => !onlyDiff || differs(values));
  if (!visible.length) return empty(onlyDiff ? "No differences." : "Nothing recorded.");
  return h("table", { class: "grid compare" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), tasks.map((t, i) => h("th", {}, h("i", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }), taskLink(t.id, t.name))))),
    h("tbody", {}, visible.map(([key, values]) => h("tr", { class: differs(values) ? "differs" : "" },
      h("th", { scope: "row" }, h("code", {}, key)),
      values.map((v) => h("td", {}, v === MISSING ? h("span", { class: "muted" }, "—") : h("code", {}, format(v))))))));
}

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} q the route's query
 * @param {HTMLElement} root
 */
export async function comparePage(_params, q, root) {
  const ids = (q.ids || "").split(",").map((s) => s.trim()).filter(Boolean);
  const add = h("input", { name: "add", placeholder: "add a task id", size: 34 });
  const addForm = h("form", { class: "inline-form", onsubmit: (e) => {
    e.preventDefault();
    if (add.value.trim()) navigate("/compare", { ids: [...ids, add.value.trim()].join(",") });
  } }, add, h("button", { type: "submit" }, "Add"));
  root.append(h("div", { class: "page-head" }, h("h1", {}, `Compare ${ids.length} tasks`), h("span", { class: "spacer" }), addForm));
  if (ids.length < 2) {
    root.append(empty("Pick two or more tasks: tick them in the task list and press Compare, or add ids here."));
    if (!ids.length) return;
  }
  const loaded = await Promise.all(ids.map(async (id) => {
    try {
      const [task, metrics] = await Promise.all([get(`/tasks/${seg(id)}`), get(`/tasks/${seg(id)}/metrics`)]);
      return { task, metrics };
    } catch (e) {
      root.append(errorBox(new Error(`${id}: ${e instanceof Error ? e.message : e}`)));
      return null;
    }
  }));
  const runs = loaded.filter((run) => run !== null);
  const tasks = runs.map((r) => r.task);
  const colors = tasks.map((_, i) => PALETTE[i % PALETTE.length]);

  const onlyDiff = h("input", { type: "checkbox", name: "only-differences" });
  const info = union(tasks.map((t) => [
    ["status", t.status], ["project", t.project], ["commit", (t.script.commit || "").slice(0, 12)],
    ["entry point", t.script.entry_point], ["python", t.environment.python || ""],
    ["packages", t.environment.requirements.length], ["parent", t.parent ? t.parent.slice(0, 8) : ""],
  ]));
  const params = union(tasks.map((t) => flatParams(t.params)));
  const finals = union(runs.map((r) => Object.entries(r.metrics.final).sort()));
  const tables = h("div", { class: "stack" });
  const draw = () => tables.replaceChildren(
    card("Runs", h("div", { class: "run-heads" }, tasks.map((t, i) => h("div", { class: "run-head" },
      h("i", { class: "swatch", style: `background:${colors[i]}` }), taskLink(t.id, t.name), " ", badge(t.status),
      h("a", { class: "remove", title: "remove from the comparison", href: `#/compare?ids=${ids.filter((x) => x !== t.id).join(",")}` }, "×"))))),
    card("Parameters", sideBySide(tasks, params, onlyDiff.checked)),
    card("Final metrics", sideBySide(tasks, finals, onlyDiff.checked, (v) => String(Number(Number(v).toPrecision(6))))),
    card("Details", sideBySide(tasks, info, onlyDiff.checked)));
  onlyDiff.addEventListener("change", draw);
  draw();

  const series = [...new Set(runs.flatMap((r) => Object.keys(r.metrics.series)))].sort();
  const charts = series.map((name) => h("div", { class: "chart-box" }, lineChart(name, runs
    .map((r, i) => ({ name: r.task.name, color: colors[i], points: r.metrics.series[name] || [] }))
    .filter((line) => line.points.length))));
  root.append(
    h("div", { class: "toolbar" }, h("label", { class: "inline" }, onlyDiff, " only rows that differ"), h("span", { class: "legend-note muted" }, "Highlighted rows differ between tasks.")),
    tables,
    h("section", { class: "card curves" }, h("h2", {}, "Metric curves"), series.length
      ? [legend(tasks.map((t, i) => ({ name: t.name, color: colors[i] }))), h("div", { class: "charts", id: "compare-charts" }, charts)]
      : empty("None of these tasks logged metrics.")));
}
