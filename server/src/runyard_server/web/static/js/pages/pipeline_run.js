// @ts-check
// One pipeline run: its DAG with each step's live status (a node links to the step's
// task; a cache hit says which earlier task it reused), the steps table, the run's
// parameters, and Abort and Rerun for whoever may change it. Polled while the run is not final.
import { ApiError, get, post, seg } from "../api.js";
import { dagView } from "../dag.js";
import { ago, badge, card, confirmButton, dateTime, duration, errorBox, h, setTitle, show, table, taskLink, writes } from "../dom.js";
import { parseAs, toText } from "../params.js";
import { navigate } from "../router.js";
import { progress } from "./pipelines.js";

const STEP_FINAL = new Set(["completed", "failed", "aborted", "skipped"]);

/** @type {(a: string | null, b: string | null) => number | null} */
const secondsBetween = (a, b) => (a ? ((b ? Date.parse(b) : Date.now()) - Date.parse(a)) / 1000 : null);

/**
 * The nodes of the run's DAG.
 * @param {any} run a PipelineRun
 * @returns {import("../dag.js").DagNode[]}
 */
function nodesOf(run) {
  return run.steps.map((/** @type {any} */ s) => ({
    id: s.name,
    label: s.name,
    parents: run.parents[s.name] || [],
    status: s.status,
    cached: s.cache_hit,
    detail: s.cache_hit ? `cached from ${String(s.cached_from || s.task || "").slice(0, 8)}` : s.attempts > 1 ? `${s.status} · attempt ${s.attempts}` : s.status,
    href: s.task ? `#/task/${s.task}` : undefined,
  }));
}

/**
 * The task a step ran as: a cache hit names the earlier task it reused.
 * @param {any} s a StepState
 */
function stepTask(s) {
  if (s.cache_hit) return h("span", { class: "cached-from" }, "cached from ", taskLink(s.cached_from || s.task));
  if (!s.task) return h("span", { class: "muted" }, "–");
  const earlier = s.tasks.filter((/** @type {string} */ t) => t !== s.task);
  return [taskLink(s.task), earlier.length ? h("span", { class: "muted" }, " (earlier: ", earlier.map((/** @type {string} */ t, /** @type {number} */ i) => [i ? ", " : "", taskLink(t)]), ")") : null];
}

/**
 * A step's params as its task got them, references resolved; folded, and kept open
 * across the page's redraws for the steps in `opened`.
 * @param {any} s a StepState
 * @param {Set<string>} opened
 */
function stepParams(s, opened) {
  const entries = Object.entries(s.params || {});
  if (!entries.length) return h("span", { class: "muted" }, "–");
  const fold = h("details", { class: "step-params", open: opened.has(s.name) },
    h("summary", {}, `${entries.length} param${entries.length === 1 ? "" : "s"}`),
    h("table", { class: "grid params" }, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, h("code", {}, show(v))))))));
  fold.addEventListener("toggle", () => (fold.open ? opened.add(s.name) : opened.delete(s.name)));
  return fold;
}

/**
 * @param {Set<string>} opened the steps whose params are shown
 * @returns {import("../dom.js").Column<any>[]}
 */
const stepColumns = (opened) => [
  { label: "Step", cell: (s) => h("strong", {}, s.name) },
  { label: "Status", cell: (s) => badge(s.status) },
  { label: "Task", cell: stepTask, class: "step-task" },
  { label: "Params", cell: (s) => stepParams(s, opened) },
  { label: "Attempts", value: (s) => s.attempts, class: "num" },
  { label: "Started", cell: (s) => ago(s.started) },
  { label: "Ran", value: (s) => (s.cache_hit ? "cached" : s.started ? duration(secondsBetween(s.started, s.finished)) : "–"), class: "num" },
  { label: "Why", cell: (s) => (s.reason ? h("span", { class: "reason" }, s.reason) : null) },
];

/**
 * @param {Record<string, string>} params from the route pattern: id (the run)
 * @param {Record<string, string>} _q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function pipelineRunPage({ id }, _q, root, ctx) {
  let run = await get(`/pipelines/runs/${seg(id)}`);
  const pipeline = await get(`/pipelines/${seg(run.pipeline)}`).catch(() => null);
  const head = h("div");
  const flash = h("div");
  const rerunBox = h("div");
  const dag = dagView(nodesOf(run), `the steps of ${run.name} and what each waits for`);
  const steps = h("div");
  const facts = h("div", { class: "columns" });
  /** @type {Set<string>} */
  const opened = new Set();
  const columns = stepColumns(opened);
  root.append(head, rerunBox, flash, h("div", { class: "stack" }, card("Graph", dag.el), steps, facts));

  const abort = () => confirmButton("Abort", "Really abort?", async () => {
    try {
      run = await post(`/pipelines/runs/${seg(run.id)}/abort`);
      draw();
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  });

  // The same pipeline again, with this run's parameters or changed ones; the steps whose
  // inputs did not change come from the cache unless asked not to. The form has its own
  // place on the page: the polling clears the flash, and must not take the form with it.
  function showRerun() {
    const fields = Object.entries(run.params).map(([name, value]) => {
      const input = h("input", { name, value: toText(value), class: "mono", "aria-label": name });
      return { name, value, input };
    });
    const noCache = h("input", { type: "checkbox", name: "no_cache" });
    const form = h("form", { class: "card rerun-form", id: "rerun-form" },
      h("h2", {}, "Rerun with parameters"),
      fields.length ? h("div", { class: "rerun-params" }, fields.map((f) => h("label", {}, f.name, f.input))) : h("p", { class: "empty" }, "This pipeline has no parameters."),
      h("div", { class: "actions" },
        h("label", { class: "inline muted" }, noCache, " run every step (no cache)"),
        h("span", { class: "spacer" }),
        h("button", { type: "button", onclick: () => rerunBox.replaceChildren() }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, "Rerun")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const params = Object.fromEntries(fields.map((f) => [f.name, parseAs(f.value, f.input.value)]));
        const again = await post(`/pipelines/runs/${seg(run.id)}/clone`, { params, no_cache: noCache.checked });
        navigate(`/pipeline-run/${again.id}`);
      } catch (e) {
        flash.replaceChildren(errorBox(e));
      }
    });
    rerunBox.replaceChildren(form);
    (fields[0]?.input || form.querySelector("button[type=submit]"))?.focus();
  }

  let drawnHead = "";
  function draw() {
    setTitle(run.name);
    dag.update(nodesOf(run));
    // The head holds Abort: drawn again only when the run's state changed, so a redraw
    // does not disarm a first click.
    const headState = JSON.stringify([run.status, run.reason]);
    if (headState !== drawnHead) {
      drawnHead = headState;
      head.replaceChildren(h("div", { class: "page-head" },
        h("div", {},
          h("div", { class: "crumbs muted" }, h("a", { href: `#/tasks?project=${encodeURIComponent(run.project)}` }, run.project), " / ",
            h("a", { href: `#/pipelines?pipeline=${encodeURIComponent(run.pipeline)}`, id: "pipeline-link" }, pipeline ? pipeline.name : run.pipeline.slice(0, 8)),
            " / ", h("code", {}, run.id)),
          h("h1", {}, run.name, " ", badge(run.status, "big"))),
        h("span", { class: "spacer" }),
        h("div", { class: "actions" },
          writes(h("button", { id: "action-rerun", title: "run the pipeline again, with these parameters or changed ones", onclick: showRerun }, "Rerun…")),
          run.status === "running" ? writes(abort()) : null)),
      ...(run.reason ? [h("pre", { class: "failure", id: "run-reason" }, run.reason)] : []));
    }
    steps.replaceChildren(card(`Steps — ${progress(run)}`, table(columns, run.steps, { className: "pipeline-steps", rowAttrs: (s) => ({ dataset: { step: s.name } }) })));
    const params = Object.entries(run.params);
    facts.replaceChildren(
      card("Run", h("dl", { class: "facts" },
        h("dt", {}, "Owner"), h("dd", {}, run.owner || "–"),
        h("dt", {}, "Started"), h("dd", {}, dateTime(run.created)),
        h("dt", {}, "Finished"), h("dd", {}, run.finished ? `${dateTime(run.finished)} (${duration(secondsBetween(run.created, run.finished))})` : "–"),
        h("dt", {}, "Cache"), h("dd", {}, run.no_cache ? "off for this run (--no-cache)" : "on"),
        run.cloned_from ? [h("dt", {}, "Cloned from"), h("dd", {}, h("a", { href: `#/pipeline-run/${run.cloned_from}` }, run.cloned_from.slice(0, 8)))] : null)),
      card("Parameters", params.length
        ? h("table", { class: "grid params" }, h("tbody", {}, params.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, h("code", {}, show(v)))))))
        : h("p", { class: "empty" }, "none")));
  }

  async function refresh() {
    try {
      run = await get(`/pipelines/runs/${seg(id)}`);
      if (!ctx.alive) return;
      flash.replaceChildren();
      draw();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) navigate("/pipelines");
      else flash.replaceChildren(errorBox(e));
    }
  }
  // A run that failed may still have steps finishing (on_failure "finish").
  const live = () => run.status === "running" || run.steps.some((/** @type {any} */ s) => !STEP_FINAL.has(s.status));
  ctx.every(1500, () => live() && refresh());
  draw();
}
