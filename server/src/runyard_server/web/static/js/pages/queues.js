// @ts-check
// Queues: depth and oldest wait of each; the selected one's tasks in claim order,
// reordered or taken off the queue with one click.
import { get, post, seg } from "../api.js";
import { card, duration, empty, errorBox, h, taskLink } from "../dom.js";

function ageOf(unixSeconds) {
  return duration(Math.max(0, Date.now() / 1000 - unixSeconds));
}

/**
 * @param {Record<string, string>} params from the route pattern
 * @param {Record<string, string>} _q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function queuesPage({ name }, _q, root, ctx) {
  const list = h("div");
  const detail = h("div");
  const flash = h("div");
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Queues")), flash, h("div", { class: "split" }, list, detail));
  let selected = name || null;
  let busy = false;

  function drawList(queues) {
    if (!queues.length) {
      list.replaceChildren(card("All queues", empty("No queues yet: enqueuing a task or starting an agent creates one.")));
      return;
    }
    selected = selected || queues[0].name;
    list.replaceChildren(card("All queues", h("table", { class: "grid queues" },
      h("thead", {}, h("tr", {}, h("th", {}, "Queue"), h("th", { class: "num" }, "Depth"), h("th", { class: "num" }, "Oldest wait"))),
      h("tbody", {}, queues.map((q) => h("tr", { class: q.name === selected ? "selected" : "", dataset: { queue: q.name } },
        h("td", {}, h("a", { href: `#/queues/${encodeURIComponent(q.name)}` }, q.name)),
        h("td", { class: "num" }, String(q.depth)),
        h("td", { class: "num" }, q.oldest_wait_s === null ? "–" : duration(q.oldest_wait_s))))))));
  }

  async function act(fn) {
    busy = true;
    try {
      const result = await fn();
      flash.replaceChildren();
      if (result && result.entries) drawDetail(result);
      else await load();
    } catch (e) {
      flash.replaceChildren(errorBox(e));
      await load();
    } finally {
      busy = false;
    }
  }

  const move = (taskId, to) => act(() => post(`/queues/${seg(String(selected))}/move`, { task_id: taskId, to }));
  const dequeue = (taskId) => act(() => post(`/tasks/${seg(taskId)}/dequeue`));

  function drawDetail(queue) {
    const n = queue.entries.length;
    const rows = queue.entries.map((e, i) => h("tr", { dataset: { id: e.task_id } },
      h("td", { class: "num muted" }, String(i + 1)),
      h("td", {}, taskLink(e.task_id, e.name)),
      h("td", {}, e.project),
      h("td", { class: "num" }, String(e.priority)),
      h("td", { class: "num" }, ageOf(e.enqueued)),
      h("td", { class: "row-actions" },
        h("button", { class: "small icon", title: "move to the top", "aria-label": "top", disabled: i === 0, onclick: () => move(e.task_id, "top") }, "⤒"),
        h("button", { class: "small icon", title: "move up", "aria-label": "up", disabled: i === 0, onclick: () => move(e.task_id, "up") }, "↑"),
        h("button", { class: "small icon", title: "move down", "aria-label": "down", disabled: i === n - 1, onclick: () => move(e.task_id, "down") }, "↓"),
        h("button", { class: "small icon", title: "move to the bottom", "aria-label": "bottom", disabled: i === n - 1, onclick: () => move(e.task_id, "bottom") }, "⤓"),
        h("button", { class: "small danger", title: "take it off the queue (back to draft)", onclick: () => dequeue(e.task_id) }, "Dequeue"))));
    const more = queue.depth > n ? h("p", { class: "muted" }, `…and ${queue.depth - n} more.`) : null;
    detail.replaceChildren(card(`Queue ${queue.name} — ${queue.depth} waiting${queue.oldest_wait_s !== null ? `, oldest ${duration(queue.oldest_wait_s)}` : ""}`,
      n ? h("table", { class: "grid entries", id: "queue-entries" },
        h("thead", {}, h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Task"), h("th", {}, "Project"), h("th", { class: "num" }, "Priority"), h("th", { class: "num" }, "Waiting"), h("th", {}, ""))),
        h("tbody", {}, rows)) : empty("Nothing waiting: agents took everything."),
      more));
  }

  async function load() {
    try {
      const queues = await get("/queues");
      if (!ctx.alive) return;
      drawList(queues);
      if (selected && queues.some((q) => q.name === selected)) drawDetail(await get(`/queues/${seg(selected)}?limit=200`));
      else detail.replaceChildren();
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  ctx.every(3000, () => !busy && load());
  await load();
}
