// @ts-check
// One task: header with actions, tabs for overview, console, metrics, code, environment
// and artifacts. The record is polled while the task is not final; the console streams.
import { ApiError, del, get, post, seg } from "../api.js";
import { confirmButton, errorBox, h, setTitle, statusBadge, writes } from "../dom.js";
import { queueChoices, queueInput, suggestQueue } from "../queue_choice.js";
import { navigate, replaceQuery } from "../router.js";
import { consolePanel } from "./task_console.js";
import {
  artifactsTab, codeTab, environmentTab, lineageCard, metricsTab, paramsCard, ranksCard, resourcesCard, runFacts, timeline,
} from "./task_sections.js";

const TABS = ["overview", "console", "metrics", "code", "environment", "artifacts"];
const FINAL = new Set(["completed", "failed", "aborted"]);

/**
 * @param {Record<string, string>} params from the route pattern
 * @param {Record<string, string>} q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function taskPage({ id }, q, root, ctx) {
  // Tasks name their worker by id; the worker list says who that is.
  const [first, workers] = await Promise.all([get(`/tasks/${seg(id)}`), get("/workers").catch(() => [])]);
  let task = first;
  const workerNames = new Map(workers.map((w) => [w.id, `${w.name} (${w.hostname})`]));
  let tab = TABS.includes(q.tab) ? q.tab : FINAL.has(task.status) || task.status === "draft" ? "overview" : "console";
  const flash = h("div");
  const head = h("div");
  const tabBar = h("nav", { class: "tabs", role: "tablist" });
  const panels = Object.fromEntries(TABS.map((t) => [t, h("div", { class: "panel", id: `panel-${t}`, role: "tabpanel" })]));
  root.append(head, flash, tabBar, ...Object.values(panels));

  const actions = () => {
    /** @type {HTMLElement[]} */
    const list = [h("a", { class: "button primary", href: `#/clone/${task.id}`, id: "action-clone" }, "Clone…")];
    const compare = task.parent ? h("a", { class: "button", href: `#/compare?ids=${task.parent},${task.id}` }, "Compare with parent") : null;
    if (["queued", "running", "draft"].includes(task.status) && !task.abort_requested) {
      list.push(confirmButton("Abort", "Really abort?", async () => {
        try {
          task = await post(`/tasks/${seg(task.id)}/abort`);
          drawHead();
        } catch (e) {
          flash.replaceChildren(errorBox(e));
        }
      }));
    }
    if (task.status === "queued") {
      list.push(h("button", { id: "action-dequeue", title: "take it off its queue (back to draft)", onclick: async () => {
        try {
          task = await post(`/tasks/${seg(task.id)}/dequeue`);
          drawHead();
        } catch (e) {
          flash.replaceChildren(errorBox(e));
        }
      } }, "Dequeue"));
    }
    if (task.status === "draft") {
      list.push(h("a", { class: "button", href: `#/draft/${task.id}`, id: "action-edit" }, "Edit draft"));
      list.push(h("button", { id: "action-enqueue", onclick: showEnqueue }, "Enqueue…"));
    }
    if (task.status === "draft" || FINAL.has(task.status)) {
      list.push(confirmButton("Delete", "Really delete?", async () => {
        try {
          await del(`/tasks/${seg(task.id)}`);
          navigate("/tasks");
        } catch (e) {
          flash.replaceChildren(errorBox(e));
        }
      }));
    }
    // Every action but comparing changes something: a viewer is not offered them.
    return [...list.map(writes), ...(compare ? [compare] : [])];
  };

  // A draft (a dequeued task too) goes back on a queue from here.
  async function showEnqueue() {
    const choices = await queueChoices();
    const [queue, names] = queueInput("enqueue-queues", suggestQueue(task, choices), choices);
    const create = h("input", { type: "checkbox", name: "create_queue" });
    const form = h("form", { class: "inline-form card enqueue-form", id: "enqueue-form" },
      h("label", { class: "inline" }, "Queue ", queue), names,
      h("label", { class: "inline muted" }, create, " create it"),
      h("button", { type: "submit", class: "primary" }, "Enqueue"),
      h("button", { type: "button", onclick: () => form.remove() }, "Cancel"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        task = await post(`/tasks/${seg(task.id)}/enqueue`, { queue: queue.value.trim(), create_queue: create.checked });
        flash.replaceChildren(...(task.warnings || []).map((w) => h("p", { class: "warning" }, w)));
        drawHead();
      } catch (e) {
        flash.replaceChildren(errorBox(e));
      }
    });
    flash.replaceChildren(form);
    queue.focus();
  }

  function drawHead() {
    setTitle(task.name);
    head.replaceChildren(h("div", { class: "page-head" },
      h("div", {},
        h("div", { class: "crumbs muted" }, h("a", { href: `#/tasks?project=${encodeURIComponent(task.project)}` }, task.project), " / ", h("code", {}, task.id)),
        h("h1", {}, task.name, " ", statusBadge(task, "big"), task.abort_requested && task.status === "running" ? h("span", { class: "badge status-aborted" }, "aborting…") : null)),
      h("span", { class: "spacer" }),
      h("div", { class: "actions" }, actions())),
    ...(task.failure_reason ? [h("pre", { class: "failure", id: "failure" }, task.failure_reason)] : []),
    ...(task.logs_dropped ? [h("p", { class: "failure", id: "logs-dropped" },
      `${task.logs_dropped} console lines were dropped: the sender's spool reached its quota (the console says where).`)] : []));
    if (tab === "overview") drawOverview();
  }

  let lineage = null;
  async function drawOverview() {
    lineage = lineage || (await lineageCard(task));
    panels.overview.replaceChildren(
      h("section", { class: "card" }, h("h2", {}, "Timeline"), timeline(task)),
      h("div", { class: "columns" },
        h("div", { class: "stack" }, runFacts(task, workerNames), resourcesCard(task), ranksCard(task, workerNames), lineage),
        h("div", { class: "stack" }, paramsCard(task))));
  }

  let dropCharts = () => {};
  ctx.onCleanup(() => dropCharts());
  const loaders = {
    overview: drawOverview,
    console: () => {},
    metrics: async () => {
      const shown = await metricsTab(await get(`/tasks/${seg(id)}/metrics`));
      dropCharts();
      dropCharts = shown.destroy;
      panels.metrics.replaceChildren(shown.el);
    },
    code: () => panels.code.replaceChildren(codeTab(task)),
    environment: () => panels.environment.replaceChildren(environmentTab(task)),
    artifacts: async () => panels.artifacts.replaceChildren(artifactsTab(task, await get(`/tasks/${seg(id)}/artifacts`))),
  };

  async function show(name) {
    tab = name;
    replaceQuery(name === "overview" ? {} : { tab: name });
    for (const t of TABS) {
      panels[t].hidden = t !== name;
      tabBar.querySelector(`[data-tab=${t}]`)?.classList.toggle("active", t === name);
    }
    try {
      await loaders[name]();
    } catch (e) {
      panels[name].replaceChildren(errorBox(e));
    }
  }

  tabBar.append(...TABS.map((t) => h("button", { class: "tab", role: "tab", dataset: { tab: t }, onclick: () => show(t) }, t[0].toUpperCase() + t.slice(1))));
  const logs = consolePanel(task.id, { onEnd: () => refresh(), status: () => task.status });
  panels.console.append(logs.el);
  ctx.onCleanup(logs.stop);

  async function refresh() {
    try {
      const fresh = await get(`/tasks/${seg(id)}`);
      const changed = JSON.stringify(fresh) !== JSON.stringify(task);
      task = fresh;
      if (changed && ctx.alive) {
        drawHead();
        logs.showState();
        if (tab === "metrics") loaders.metrics();
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) navigate("/tasks");
    }
  }
  ctx.every(2000, () => {
    if (!FINAL.has(task.status)) refresh();
    if (tab === "metrics" && !FINAL.has(task.status)) loaders.metrics().catch(() => {});
  });
  drawHead();
  await show(tab);
}
