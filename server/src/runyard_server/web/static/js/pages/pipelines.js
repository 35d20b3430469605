// @ts-check
// Pipelines: the runs, newest first (all, or one pipeline's), and the stored pipeline
// definitions with a button that starts a run.
import { get, post, query, seg } from "../api.js";
import { ago, badge, card, empty, errorBox, h, setTitle, table, writes } from "../dom.js";
import { navigate, replaceQuery } from "../router.js";

/**
 * "3 of 4 done" and how many of them were cache hits.
 * @param {any} run a PipelineRun
 */
export function progress(run) {
  const done = run.steps.filter((/** @type {any} */ s) => s.status === "completed");
  const cached = done.filter((/** @type {any} */ s) => s.cache_hit).length;
  return `${done.length} of ${run.steps.length} done${cached ? `, ${cached} cached` : ""}`;
}

/** @type {import("../dom.js").Column<any>[]} */
const RUN_COLUMNS = [
  { label: "Run", cell: (r) => h("a", { href: `#/pipeline-run/${r.id}`, class: "run-link" }, r.name) },
  { label: "Status", cell: (r) => badge(r.status) },
  { label: "Steps", value: progress, class: "steps" },
  { label: "Project", value: (r) => r.project },
  { label: "Owner", value: (r) => r.owner || "–" },
  { label: "Started", cell: (r) => ago(r.created) },
  { label: "Finished", cell: (r) => ago(r.finished) },
];

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} q the route's query: pipeline (an id: only its runs)
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function pipelinesPage(_params, q, root, ctx) {
  setTitle("Pipelines");
  // The pipeline picked stays in the URL, so a redraw (or a reload) keeps it.
  let only = q.pipeline || "";
  const flash = h("div");
  const runs = h("div", { id: "pipeline-runs" });
  const defs = h("div", { id: "pipelines" });
  const summary = h("span", { class: "muted" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Pipelines"), summary), flash, h("div", { class: "stack" }, runs, defs));
  let drawn = "";

  /** @param {any} p a Pipeline */
  async function start(p) {
    try {
      const run = await post(`/pipelines/${seg(p.id)}/runs`, {});
      navigate(`/pipeline-run/${run.id}`);
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }

  /** @param {string} id */
  function pick(id) {
    only = id;
    replaceQuery({ pipeline: id });
    drawn = "";
    load();
  }

  /** @type {import("../dom.js").Column<any>[]} */
  const defColumns = [
    { label: "Pipeline", cell: (p) => h("button", { class: "link pick", onclick: () => pick(p.id) }, p.name) },
    { label: "Steps", value: (p) => p.steps.length, class: "num" },
    { label: "Project", value: (p) => p.project },
    { label: "Queue", value: (p) => p.queue },
    { label: "Owner", value: (p) => p.owner || "–" },
    { label: "Created", cell: (p) => ago(p.created) },
    { label: "", cell: (p) => writes(h("button", { class: "small primary", onclick: () => start(p) }, "Run")) },
  ];

  async function load() {
    try {
      const [pipelines, page] = await Promise.all([get("/pipelines"), get(`/pipelines/runs${query({ pipeline: only })}`)]);
      if (!ctx.alive) return;
      flash.replaceChildren();
      // Drawn again only when something changed: the hover and a pressed button stay.
      const fresh = JSON.stringify([pipelines, page]);
      if (fresh === drawn) return;
      drawn = fresh;
      const chosen = pipelines.items.find((/** @type {any} */ p) => p.id === only);
      summary.textContent = `${pipelines.items.length} pipeline${pipelines.items.length === 1 ? "" : "s"}`;
      runs.replaceChildren(card(chosen ? `Runs of ${chosen.name}` : "Runs",
        chosen ? h("p", {}, h("button", { class: "link", id: "all-runs", onclick: () => pick("") }, "← all runs")) : null,
        page.items.length
          ? table(RUN_COLUMNS, page.items, { className: "pipeline-runs", rowAttrs: (r) => ({ dataset: { run: r.id } }) })
          : empty("No runs yet: `runyard pipeline run -f pipeline.yaml` starts one.")));
      defs.replaceChildren(card("Definitions", pipelines.items.length
        ? table(defColumns, pipelines.items, { className: "pipeline-defs", rowAttrs: (p) => ({ dataset: { pipeline: p.id }, class: p.id === only ? "selected" : "" }) })
        : empty("No pipelines yet.")));
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  ctx.every(3000, load);
  await load();
}
