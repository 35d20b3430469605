// @ts-check
// One task: header with actions, tabs for overview, console, metrics, code, environment
// and artifacts. The record is polled while the task is not final; the console streams.
import { ApiError, get, post, seg } from "../api.js";
import { badge, errorBox, h } from "../dom.js";
import { navigate, replaceQuery } from "../router.js";
import { consolePanel } from "./task_console.js";
import {
  artifactsTab, codeTab, environmentTab, lineageCard, metricsTab, paramsCard, resourcesCard, runFacts, timeline,
} from "./task_sections.js";

const TABS = ["overview", "console", "metrics", "code", "environment", "artifacts"];
const FINAL = new Set(["completed", "failed", "aborted"]);

/** A button that asks for a second click before it acts. */
function confirmButton(label, question, action) {
  const button = h("button", { class: "danger", id: `action-${label.toLowerCase()}` }, label);
  let armed = null;
  button.addEventListener("click", async () => {
    if (!armed) {
      button.textContent = question;
      armed = setTimeout(() => {
        button.textContent = label;
        armed = null;
      }, 4000);
      return;
    }
    clearTimeout(armed);
    button.disabled = true;
    await action();
  });
  return button;
}

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
    if (task.parent) list.push(h("a", { class: "button", href: `#/compare?ids=${task.parent},${task.id}` }, "Compare with parent"));
    return list;
  };

  function drawHead() {
    document.title = `${task.name} · Runyard`;
    head.replaceChildren(h("div", { class: "page-head" },
      h("div", {},
        h("div", { class: "crumbs muted" }, h("a", { href: `#/tasks?project=${encodeURIComponent(task.project)}` }, task.project), " / ", h("code", {}, task.id)),
        h("h1", {}, task.name, " ", badge(task.status, "big"), task.abort_requested && task.status === "running" ? h("span", { class: "badge status-aborted" }, "aborting…") : null)),
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
        h("div", { class: "stack" }, runFacts(task, workerNames), resourcesCard(task), lineage),
        h("div", { class: "stack" }, paramsCard(task))));
  }

  const loaders = {
    overview: drawOverview,
    console: () => {},
    metrics: async () => panels.metrics.replaceChildren(metricsTab(await get(`/tasks/${seg(id)}/metrics`))),
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
  const logs = consolePanel(task.id, { onEnd: () => refresh() });
  panels.console.append(logs.el);
  ctx.onCleanup(logs.stop);

  async function refresh() {
    try {
      const fresh = await get(`/tasks/${seg(id)}`);
      const changed = JSON.stringify(fresh) !== JSON.stringify(task);
      task = fresh;
      if (changed && ctx.alive) {
        drawHead();
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
