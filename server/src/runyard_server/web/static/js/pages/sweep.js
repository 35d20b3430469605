// @ts-check
// One sweep: what it searches and how far it got, the best params (with "Clone best"),
// its trials in a table sortable by objective, each finished trial's objective over
// time, every trial's intermediate curve (pruned ones dashed) and the sweep's log.
// Polled while it runs; a redraw keeps the sort the user picked.
import { get, post, seg } from "../api.js";
import { loadUplot } from "../chart.js";
import { ago, badge, card, confirmButton, dateTime, duration, empty, errorBox, h, setTitle, show, taskLink, writes } from "../dom.js";
import { replaceQuery } from "../router.js";
import { PRUNED_COLOR, curvesChart, objectiveChart } from "../sweep_charts.js";

/** @typedef {import("../sweep_charts.js").Trial} Trial */
/** @typedef {import("../sweep_charts.js").Curve} Curve */

const POLL_MS = 3000;
/** Sort keys of the trials table: the trial's field each compares. */
const SORTS = { number: "#", value: "objective", step: "step", time: "time" };

/** @param {Trial} t seconds from its clone's creation to its end (or now) */
const elapsed = (t) => ((t.finished ? Date.parse(t.finished) : Date.now()) - Date.parse(t.created)) / 1000;

/** @param {unknown} v a number shown with 6 significant digits, the exact value on hover */
const num = (v) => (typeof v === "number" ? h("span", { title: String(v) }, String(Number(v.toPrecision(6)))) : h("span", { class: "muted" }, "–"));

/**
 * @param {Record<string, string>} params from the route pattern
 * @param {Record<string, string>} q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function sweepPage({ id }, q, root, ctx) {
  const head = h("div");
  const flash = h("div");
  const summary = h("div", { class: "split" });
  const trialsBox = h("section", { class: "card", id: "sweep-trials" });
  const charts = h("div", { class: "charts", id: "sweep-charts" });
  const events = h("div");
  root.append(head, flash, h("div", { class: "stack" }, summary, trialsBox,
    h("section", { class: "card curves" }, h("h2", {}, "Objective"),
      h("p", { class: "legend-note muted" }, "Intermediate curves of pruned trials are dashed in ",
        h("i", { class: "swatch", style: { background: PRUNED_COLOR } }), "this colour."), charts),
    events));

  // The sort picked by the user survives every redraw (and a reload, through the query).
  const sort = { key: q.sort in SORTS ? q.sort : "value", desc: q.order === "desc" ? true : q.order === "asc" ? false : null };
  /** @type {any} */
  let sweep = null;
  /** @type {Trial[]} */
  let trials = [];
  /** @type {(() => void)[]} */
  let destroyCharts = [];
  let chartsDrawn = "";
  ctx.onCleanup(() => destroyCharts.forEach((fn) => fn()));

  async function act(/** @type {() => Promise<any>} */ fn) {
    try {
      sweep = await fn();
      flash.replaceChildren();
      await load();
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }

  function drawHead() {
    setTitle(`Sweep ${sweep.name}`);
    const actions = [];
    if (sweep.status === "running") {
      actions.push(confirmButton("Stop", "Really stop?", () => act(() => post(`/sweeps/${seg(sweep.id)}/stop`, {})), "action-stop"));
    } else if (sweep.status === "stopped") {
      actions.push(h("button", { id: "action-resume", onclick: () => act(() => post(`/sweeps/${seg(sweep.id)}/resume`)) }, "Resume"));
    }
    // The best trial's task in the clone form: its params pre-filled, a queue to pick.
    if (sweep.best) actions.push(h("a", { class: "button primary", id: "action-clone-best", href: `#/clone/${sweep.best.task_id}` }, "Clone best…"));
    head.replaceChildren(h("div", { class: "page-head" },
      h("h1", {}, sweep.name, " ", badge(sweep.status, "big")),
      h("span", { class: "spacer" }),
      actions.map(writes)));
  }

  function drawSummary() {
    const c = sweep.counts;
    const done = c.completed + c.failed + c.pruned;
    const facts = [
      ["Objective", h("span", {}, `${sweep.direction} `, h("code", {}, sweep.objective))],
      ["Trials", `${done} of ${sweep.trials} done: ${c.completed} completed, ${c.pruned} pruned, ${c.failed} failed; ${c.running} running, ${c.queued} queued (at most ${sweep.parallel} at once)`],
      ["Base", taskLink(sweep.base)],
      ["Search", `sampler ${sweep.sampler}, pruner ${sweep.pruner}`],
      ["Queue", h("a", { href: `#/queues/${encodeURIComponent(sweep.queue)}` }, sweep.queue)],
      ["Project", sweep.project],
      ["Created", h("span", {}, dateTime(sweep.created), " (", ago(sweep.created), ")")],
      ["Time limit", sweep.max_time_s ? duration(sweep.max_time_s) : null],
      ["Ended", sweep.finished ? dateTime(sweep.finished) : null],
      ["Reason", sweep.reason],
    ].filter(([, v]) => v !== null && v !== undefined && v !== "");
    const best = sweep.best;
    summary.replaceChildren(
      card("Sweep", h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      h("section", { class: "card", id: "sweep-best" }, h("h2", {}, "Best params"), best
        ? [h("p", {}, `trial ${best.number} `, taskLink(best.task_id), ` · ${sweep.objective} = `, h("strong", {}, num(best.value))),
          h("table", { class: "grid params" }, h("tbody", {}, Object.entries(best.params).map(([path, value]) =>
            h("tr", { dataset: { path } }, h("th", { scope: "row" }, h("code", {}, path)), h("td", {}, h("code", {}, show(value)))))))]
        : empty("No trial has completed yet.")));
  }

  /** @param {Trial} t @param {string} key */
  const sortValue = (t, key) => (key === "time" ? elapsed(t) : key === "number" ? t.number : /** @type {any} */ (t)[key]);

  function sortedTrials() {
    // The default order of the objective puts the best first: descending for "max".
    const desc = sort.desc ?? (sort.key === "value" ? sweep.direction === "max" : false);
    const scored = trials.filter((t) => sortValue(t, sort.key) !== null && sortValue(t, sort.key) !== undefined);
    const rest = trials.filter((t) => !scored.includes(t));
    scored.sort((a, b) => (sortValue(a, sort.key) - sortValue(b, sort.key)) * (desc ? -1 : 1) || a.number - b.number);
    return { rows: [...scored, ...rest], desc };
  }

  /** @param {keyof typeof SORTS} key @param {boolean} desc */
  function sortHeader(key, desc) {
    const active = sort.key === key;
    const label = key === "value" ? sweep.objective : SORTS[key];
    const button = h("button", { type: "button", class: "sort", dataset: { sort: key }, onclick: () => {
      sort.desc = active ? !desc : null;
      sort.key = key;
      replaceQuery({ sort: key, order: sort.desc === null ? "" : sort.desc ? "desc" : "asc" });
      drawTrials();
    } }, label + (active ? (desc ? " ▼" : " ▲") : ""));
    const th = h("th", { class: "sortable num", scope: "col", "aria-sort": active ? (desc ? "descending" : "ascending") : "none" }, button);
    th.addEventListener("click", (event) => event.target === th && button.click());
    return th;
  }

  function drawTrials() {
    if (!trials.length) {
      trialsBox.replaceChildren(h("h2", {}, "Trials"), empty("No trials yet."));
      return;
    }
    const { rows, desc } = sortedTrials();
    const paths = Object.keys(sweep.params);
    const bestNumber = sweep.best ? sweep.best.number : null;
    trialsBox.replaceChildren(h("h2", {}, `Trials (${trials.length})`),
      h("div", { class: "table-scroll" }, h("table", { class: "grid trials" },
        h("thead", {}, h("tr", {}, sortHeader("number", desc), h("th", {}, "Task"), h("th", {}, "Status"),
          sortHeader("value", desc), sortHeader("step", desc), sortHeader("time", desc),
          paths.map((p) => h("th", { class: "col-param" }, h("code", {}, p))), h("th", {}, "Note"))),
        h("tbody", {}, rows.map((t) => h("tr", { class: t.number === bestNumber ? "best" : "", dataset: { trial: String(t.number), status: t.status } },
          h("td", { class: "num" }, t.number === bestNumber ? h("span", { title: "best trial", class: "best-mark" }, "★ ") : null, String(t.number)),
          h("td", {}, t.task_id ? taskLink(t.task_id) : h("span", { class: "muted" }, "–")),
          h("td", {}, badge(t.status)),
          h("td", { class: "num value" }, num(t.value)),
          h("td", { class: "num" }, t.step === null ? "–" : String(t.step)),
          h("td", { class: "num" }, duration(elapsed(t))),
          paths.map((p) => h("td", { class: "col-param" }, h("code", {}, show(t.params[p])))),
          h("td", { class: "muted" }, t.reason || "")))))));
  }

  /** @param {Curve[]} curves */
  async function drawCharts(curves) {
    // Redrawn only when there is something new: a redraw would undo a zoom.
    const drawn = JSON.stringify([trials.map((t) => [t.status, t.value]), curves.map((c) => [c.status, c.points.length])]);
    if (drawn === chartsDrawn) return;
    const uPlot = await loadUplot();
    if (!ctx.alive) return;
    chartsDrawn = drawn;
    destroyCharts.forEach((fn) => fn());
    const shown = [objectiveChart(uPlot, sweep, trials, curves), curvesChart(uPlot, sweep.objective, curves.filter((c) => c.points.length))];
    destroyCharts = shown.map((c) => c.destroy);
    charts.replaceChildren(...shown.map((c) => c.el));
    charts.dataset.pruned = String(curves.filter((c) => c.status === "pruned" && c.points.length).length);
  }

  function drawEvents(/** @type {{time: string, kind: string, message: string, trial: number | null}[]} */ list) {
    events.replaceChildren(card("Log", list.length
      ? h("ul", { class: "plain sweep-log", id: "sweep-log" }, list.slice(-200).reverse().map((e) =>
        h("li", { dataset: { kind: e.kind } }, ago(e.time), " ", h("code", {}, e.kind), " ", e.message)))
      : empty("Nothing yet.")));
  }

  async function load() {
    const path = `/sweeps/${seg(id)}`;
    const [record, trialList, curves, log] = await Promise.all([get(path), get(`${path}/trials`), get(`${path}/curves`), get(`${path}/events`)]);
    if (!ctx.alive) return;
    sweep = record;
    trials = trialList.trials;
    drawHead();
    drawSummary();
    drawTrials();
    drawEvents(log.events);
    await drawCharts(curves.curves).catch((e) => charts.replaceChildren(errorBox(e)));
  }

  await load();
  // A stopped sweep's trials in flight are still being aborted: polled until they end.
  const live = () => sweep.status === "running" || trials.some((t) => t.status === "queued" || t.status === "running");
  ctx.every(POLL_MS, () => {
    if (live()) load().catch((e) => flash.replaceChildren(errorBox(e)));
  });
}
