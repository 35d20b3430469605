// @ts-check
// Workers: every agent with its resources and GPUs, queues, running tasks and heartbeat.
import { get } from "../api.js";
import { ago, card, empty, errorBox, h, setTitle, taskLink } from "../dom.js";

/**
 * Each GPU: index, model, memory, NVLink peers, whether it is busy with work the agent
 * did not start (and how much memory that holds), and the tasks on it with their share.
 * @param {any} worker a worker from GET /workers
 * @param {Map<string, string | undefined>} names task names by id
 */
function gpuList(worker, names) {
  if (!worker.gpus.length) return h("span", { class: "muted" }, "no GPUs");
  const states = new Map((worker.gpu_state || []).map((/** @type {any} */ s) => [s.index, s]));
  return h("ul", { class: "plain gpus" }, worker.gpus.map((/** @type {any} */ g) => {
    const s = states.get(g.index) || { busy: false, foreign_mb: 0, tasks: [] };
    const state = s.busy ? "busy" : s.tasks.length ? "in use" : "free";
    const badge = s.busy ? "status-failed" : s.tasks.length ? "status-running" : "status-completed";
    return h("li", { dataset: { gpu: String(g.index) } },
      h("code", {}, `#${g.index}`), ` ${g.name || "GPU"}`,
      g.memory_gb ? h("span", { class: "muted" }, ` · ${g.memory_gb} GB`) : null,
      g.peers && g.peers.length ? h("span", { class: "muted", title: "NVLink peers" }, ` · NVLink ${g.peers.map((/** @type {number} */ i) => `#${i}`).join(" ")}`) : null,
      " ", h("span", { class: `badge ${badge}`, title: s.busy ? "memory in use by processes the agent did not start: not handed out" : "" }, state),
      s.foreign_mb ? h("span", { class: "muted" }, ` ${s.foreign_mb} MiB foreign`) : null,
      ...s.tasks.map((/** @type {any} */ t) => h("span", {}, " ", taskLink(t.task_id, names.get(t.task_id)), t.share < 1 ? h("span", { class: "muted" }, ` (${t.share} GPU)`) : null)));
  }));
}

function workerCard(w, names) {
  const r = w.resources;
  return h("section", { class: `card worker ${w.alive ? "" : "dead"}`, dataset: { worker: w.name } },
    h("div", { class: "card-head" },
      h("span", { class: `dot ${w.alive ? "alive" : "dead"}`, title: w.alive ? "alive" : "no heartbeat for 3 leases" }),
      h("h2", {}, w.name),
      h("span", { class: "muted" }, w.hostname),
      h("span", { class: "spacer" }),
      h("span", { class: `badge ${w.alive ? "status-completed" : "status-failed"}` }, w.alive ? "alive" : "lost")),
    h("dl", { class: "facts" },
      h("dt", {}, "Queues"), h("dd", {}, w.queues.map((q) => h("a", { class: "tag", href: `#/queues/${encodeURIComponent(q)}` }, q))),
      h("dt", {}, "Resources"), h("dd", {}, `${r.cpus} CPUs · ${r.memory_gb.toFixed(1)} GB · ${r.gpus} GPU${r.gpus === 1 ? "" : "s"}`),
      h("dt", {}, "GPUs"), h("dd", {}, gpuList(w, names)),
      h("dt", {}, "Running"), h("dd", {}, w.running.length ? h("ul", { class: "plain" }, w.running.map((id) => h("li", {}, taskLink(id, names.get(id))))) : h("span", { class: "muted" }, "idle")),
      h("dt", {}, "Heartbeat"), h("dd", {}, ago(w.last_heartbeat)),
      h("dt", {}, "Registered"), h("dd", {}, ago(w.registered)),
      h("dt", {}, "Executor"), h("dd", {}, `${w.executor}${w.version ? ` · agent ${w.version}` : ""}`)));
}

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} _q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function workersPage(_params, _q, root, ctx) {
  setTitle("Workers");
  const body = h("div", { class: "workers" });
  const flash = h("div");
  const summary = h("span", { class: "muted" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Workers"), summary), flash, body);
  // Task names for the running ids, fetched once per task.
  const names = new Map();
  async function nameTasks(workers) {
    const onGpus = (/** @type {any} */ w) => (w.gpu_state || []).flatMap((/** @type {any} */ s) => s.tasks.map((/** @type {any} */ t) => t.task_id));
    const missing = [...new Set(workers.flatMap((w) => [...w.running, ...onGpus(w)]))].filter((id) => !names.has(id));
    await Promise.all(missing.map((id) => get(`/tasks/${id}`).then((t) => names.set(id, t.name)).catch(() => names.set(id, undefined))));
  }

  async function load() {
    try {
      const workers = await get("/workers");
      await nameTasks(workers);
      if (!ctx.alive) return;
      flash.replaceChildren();
      const alive = workers.filter((w) => w.alive).length;
      summary.textContent = `${alive} alive of ${workers.length}`;
      workers.sort((a, b) => Number(b.alive) - Number(a.alive) || a.name.localeCompare(b.name));
      body.replaceChildren(...(workers.length ? workers.map((w) => workerCard(w, names)) : [card(null, empty("No agents have registered. Start one with: runyard-agent --server URL --queue NAME"))]));
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  ctx.every(3000, load);
  await load();
}
