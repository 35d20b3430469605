// @ts-check
// The parts of the task page: timeline, run facts, params, lineage, code, environment,
// metrics and artifacts. Each returns an element; none fetches what it is given.
import { download, get, query } from "../api.js";
import { PALETTE, loadUplot, metricChart } from "../chart.js";
import { diffStats, diffView } from "../diff.js";
import { ago, badge, bytes, card, dateTime, duration, empty, errorBox, h, show, table, taskLink } from "../dom.js";
import { flatParams } from "../params.js";
import { hasValue } from "../query.js";

/** @type {(a: string | null, b: string | null) => number | null} */
const secondsBetween = (a, b) => (a && b ? (Date.parse(b) - Date.parse(a)) / 1000 : null);

/** Created → started → finished, with the wait and the run time between them. */
export function timeline(task) {
  const now = new Date().toISOString();
  const endLabel = task.finished ? task.status : task.status === "running" ? "running…" : "—";
  const steps = [
    { label: "created", at: task.created, done: true },
    { label: "started", at: task.started, done: Boolean(task.started) },
    { label: endLabel, at: task.finished, done: Boolean(task.finished), status: task.finished ? task.status : "" },
  ];
  const gaps = [
    task.started ? `waited ${duration(secondsBetween(task.created, task.started))}` : task.status === "queued" ? `waiting ${duration(secondsBetween(task.created, now))}` : "",
    task.started ? `${task.finished ? "ran" : "running"} ${duration(secondsBetween(task.started, task.finished || now))}` : "",
  ];
  const parts = [];
  steps.forEach((step, i) => {
    parts.push(h("div", { class: `tl-step ${step.done ? "done" : ""} ${step.status ? `tl-${step.status}` : ""}` },
      h("span", { class: "tl-dot" }), h("strong", {}, step.label), h("span", { class: "muted" }, step.at ? dateTime(step.at) : "")));
    if (i < gaps.length) parts.push(h("div", { class: `tl-gap ${steps[i + 1].done ? "done" : ""}` }, h("span", {}, gaps[i])));
  });
  return h("div", { class: "timeline", id: "timeline" }, parts);
}

function facts(rows) {
  return h("dl", { class: "facts" }, rows.filter(([, v]) => hasValue(v)).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export function runFacts(task, workerNames = new Map()) {
  return card("Run", facts([
    ["Status", [badge(task.status), task.abort_requested ? h("span", { class: "badge status-aborted" }, "abort requested") : null]],
    ["Project", task.project],
    ["Owner", task.owner],
    ["Pipeline", pipelineStep(task)],
    ["Queue", task.queue ? h("a", { href: `#/queues/${encodeURIComponent(task.queue)}` }, task.queue) : null],
    ["Priority", String(task.priority)],
    ["Worker", task.worker ? workerNames.get(task.worker) || h("code", {}, task.worker) : null],
    // A multi-node task shows its ranks in their own card (ranksCard).
    ["Placement", task.placement.length && !(task.resources.nodes > 1) ? placement(task.placement, workerNames) : null],
    ["Attempt", `${task.attempt} (retries on worker loss: ${task.max_retries})`],
    ["Preempted", task.preempted ? preemptedBy(task) : null],
    ["Exit code", task.exit_code === null ? null : String(task.exit_code)],
    ["Tags", task.tags.length ? task.tags.map((t) => h("span", { class: "tag" }, t)) : null],
    ["Comment", task.comment],
  ]));
}

/** A task a pipeline run made (origin "pipeline:RUN:STEP"): a link back to that run. */
function pipelineStep(task) {
  const [kind, run, step] = (task.origin || "").split(":");
  if (kind !== "pipeline" || !run) return null;
  return h("a", { href: `#/pipeline-run/${run}`, id: "pipeline-origin" }, `step ${step} of pipeline run ${run.slice(0, 8)}`);
}

// Requeued for a higher-priority task; not a failure, so not counted in the attempts.
function preemptedBy(task) {
  const times = task.preempted === 1 ? "once" : `${task.preempted} times`;
  return [`${times}, last by `, taskLink(task.preempted_by), task.preempted_at ? ` at ${dateTime(task.preempted_at)}` : "",
    h("span", { class: "muted" }, " (requeued, not counted as a failure)")];
}

/** Where a one-node task runs: its agent and GPU indices, with the share of a shared GPU. */
function placement(ranks, workerNames) {
  return h("ul", { class: "plain", id: "placement" }, ranks.map((p) => {
    const gpus = p.gpu_indices.length
      ? `GPU${p.gpu_indices.length > 1 ? "s" : ""} ${p.gpu_indices.join(",")}${p.gpu_fraction < 1 ? ` (share ${p.gpu_fraction})` : ""}`
      : "no GPU";
    return h("li", {}, workerNames.get(p.worker) || h("code", {}, p.worker), ` — ${gpus}`);
  }));
}

export function paramsCard(task) {
  const rows = flatParams(task.params);
  return card("Parameters", rows.length
    ? table([
      { label: "Parameter", cell: ([k]) => h("code", {}, k) },
      { label: "Value", cell: ([, v]) => h("code", { class: `v-${typeof v}` }, show(v)) },
    ], rows, { className: "params kv" })
    : empty("No parameters recorded."));
}

export function resourcesCard(task) {
  const r = task.resources;
  // Zero means "no requirement": the task fits on any agent for that resource.
  const need = (n, unit) => (n ? `${n}${unit}` : h("span", { class: "muted" }, "any"));
  const nodes = r.nodes > 1 ? `${r.nodes} agents at once, one rank each (per rank: the rest)` : null;
  return card("Resources needed", facts([
    ["Nodes", nodes],
    ["GPUs", r.gpus > 0 && r.gpus < 1 ? `${r.gpus} (a share of one GPU)` : need(r.gpus, "")],
    ["GPU model", r.gpu_model ? h("code", {}, r.gpu_model) : null],
    ["GPU memory", r.gpu_memory_gb ? `≥ ${r.gpu_memory_gb} GB each` : null],
    ["Interconnect", r.gpu_interconnect === "nvlink" ? "NVLink between all its GPUs" : null],
    ["CPUs", need(r.cpus, "")],
    ["Memory", need(r.memory_gb, " GB")],
  ]));
}

/** Where each rank of a multi-node task runs (its current or last attempt); null for one node. */
export function ranksCard(task, workerNames = new Map()) {
  if (!(task.resources.nodes > 1)) return null; // absent from the JSON when 1
  return card("Ranks", task.placement.length
    ? table([
      { label: "Rank", cell: (p) => String(p.rank) },
      { label: "Agent", cell: (p) => workerNames.get(p.worker) || h("code", {}, p.worker) },
      { label: "GPUs", cell: (p) => (p.gpu_indices.length ? p.gpu_indices.join(", ") : h("span", { class: "muted" }, "—")) },
    ], task.placement, { className: "ranks" })
    : empty(`Not placed yet: starts once ${task.resources.nodes} agents have joined.`));
}

/**
 * The sweep a controller made this task for ("sweep:ID:N" → a link to trial N of it);
 * null for a task a person made, or a kind this UI has no page for.
 * @param {string | null | undefined} origin
 */
function originLink(origin) {
  const [kind, id, slot] = (origin || "").split(":");
  if (kind !== "sweep" || !id) return null;
  return h("a", { href: `#/sweep/${encodeURIComponent(id)}`, id: "origin-link" }, `sweep ${id.slice(0, 8)}, trial ${slot}`);
}

/** Parent and children (GET /tasks?parent=ID), fetched here because they are other tasks. */
export async function lineageCard(task) {
  const body = h("div", {}, h("p", { class: "muted" }, "loading…"));
  const el = card("Lineage", body);
  try {
    const parent = task.parent ? await get(`/tasks/${task.parent}`).catch(() => null) : null;
    const children = (await get(`/tasks${query({ parent: task.id, limit: 100 })}`)).items;
    body.replaceChildren(facts([
      ["Made by", originLink(task.origin)],
      ["Parent", task.parent ? [taskLink(task.parent, parent ? parent.name : task.parent.slice(0, 8)), " ", parent ? badge(parent.status) : null] : h("span", { class: "muted" }, "none (an original run)")],
      ["Children", children.length
        ? h("ul", { class: "plain", id: "children" }, children.map((c) => h("li", {}, taskLink(c.id, c.name), " ", badge(c.status))))
        : h("span", { class: "muted" }, "no clones yet")],
    ]));
  } catch (e) {
    body.replaceChildren(errorBox(e));
  }
  return el;
}

export function codeTab(task) {
  const s = task.script;
  const stats = diffStats(s.diff);
  return h("div", { class: "stack" },
    card("Code", facts([
      ["Repository", h("code", {}, s.repository || "–")],
      ["Commit", s.commit ? h("code", {}, s.commit) : null],
      ["Branch", s.branch],
      ["Entry point", h("code", {}, s.entry_point)],
      ["Working dir", h("code", {}, s.working_dir)],
      ["Arguments", s.args.length ? h("code", {}, s.args.join(" ")) : null],
    ])),
    card(`Uncommitted changes${stats.length ? ` — ${stats.length} file${stats.length > 1 ? "s" : ""}` : ""}`,
      stats.length ? h("ul", { class: "plain diffstat" }, stats.map((f) => h("li", {}, h("code", {}, f.name), " ", h("span", { class: "d-add" }, `+${f.added}`), " ", h("span", { class: "d-del" }, `−${f.deleted}`)))) : null,
      s.diff ? diffView(s.diff) : empty("None: the commit ran as it is.")));
}

export function environmentTab(task) {
  const e = task.environment;
  const env = Object.entries(e.env);
  return h("div", { class: "stack" },
    card("Environment", facts([["Python", e.python || "the agent's"], ["Docker image", e.docker_image || "none (virtualenv)"]])),
    card(`Packages (${e.requirements.length})`, e.requirements.length ? h("pre", { class: "packages" }, e.requirements.join("\n")) : empty("No requirements recorded.")),
    card("Variables", env.length ? table([{ label: "Name", cell: ([k]) => h("code", {}, k) }, { label: "Value", cell: ([, v]) => h("code", {}, v) }], env, { className: "kv" }) : empty("No environment variables.")));
}

/**
 * One chart per series, and the final values; destroy() frees the charts.
 * @returns {Promise<{el: HTMLElement, destroy: () => void}>}
 */
export async function metricsTab(metrics) {
  const names = Object.keys(metrics.series).sort();
  if (!names.length) return { el: empty("No metrics logged (yet)."), destroy: () => {} };
  const uPlot = await loadUplot();
  const finals = Object.entries(metrics.final).sort();
  const settings = { x: /** @type {const} */ ("step"), log: false, smooth: 0 };
  const charts = names.map((name, i) => metricChart(uPlot, name, [{ name, color: PALETTE[i % PALETTE.length], points: metrics.series[name] }], settings));
  const el = h("div", { class: "stack" },
    card("Final values", table([{ label: "Series", cell: ([k]) => h("code", {}, k) }, { label: "Last value", cell: ([, v]) => h("code", { title: String(v) }, String(Number(v.toPrecision(6)))) }], finals, { className: "kv" })),
    h("div", { class: "charts", id: "charts" }, charts.map((c) => c.el)));
  return { el, destroy: () => charts.forEach((c) => c.destroy()) };
}

export function artifactsTab(task, artifacts) {
  if (!artifacts.length) return empty("No artifacts uploaded.");
  const fail = h("div");
  return h("div", { class: "stack" }, fail, card("Artifacts", table([
    { label: "Name", cell: (a) => h("code", {}, a.name) },
    { label: "Size", cell: (a) => bytes(a.size) },
    { label: "SHA-256", cell: (a) => h("code", { class: "muted", title: a.sha256 }, a.sha256.slice(0, 16) + "…") },
    { label: "Uploaded", cell: (a) => ago(a.created) },
    { label: "", cell: (a) => h("button", { class: "small", onclick: () => download(task.id, a.name).catch((e) => fail.replaceChildren(errorBox(e))) }, "Download") },
  ], artifacts, { className: "artifacts" })));
}
