// @ts-check
// Queues: depth, oldest wait, limits and what runs of each; the selected one's limits
// (editable) and tasks in claim order, a page at a time, reordered, moved to another
// queue or taken off with one click.
import { get, patch, post, query, seg } from "../api.js";
import { card, duration, empty, errorBox, h, setTitle, taskLink, writes } from "../dom.js";
import { limitsForm, usedOf } from "../queue_limits.js";
import { replaceQuery } from "../router.js";

const PAGE = 100;

function ageOf(unixSeconds) {
  return duration(Math.max(0, Date.now() / 1000 - unixSeconds));
}

/**
 * @param {Record<string, string>} params from the route pattern
 * @param {Record<string, string>} q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function queuesPage({ name }, q, root, ctx) {
  const list = h("div");
  const detail = h("div");
  const flash = h("div");
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Queues")), flash, h("div", { class: "split" }, list, detail));
  setTitle(name ? `Queue ${name}` : "Queues");
  let selected = name || null;
  let busy = false;
  let offset = Math.max(0, Math.floor(Number(q.offset) || 0));
  /** @type {string[]} */
  let queueNames = [];
  // The target picked on each row: the page redraws every few seconds, and a redraw
  // between picking and pressing Move must not send the task to the first queue listed.
  /** @type {Map<string, string>} */
  const picked = new Map();
  // Limits typed and not saved yet, by queue: kept across the redraw the same way.
  /** @type {Map<string, import("../queue_limits.js").LimitsDraft>} */
  const drafts = new Map();

  function drawList(queues) {
    if (!queues.length) {
      list.replaceChildren(card("All queues", empty("No queues yet: enqueuing a task or starting an agent creates one.")));
      return;
    }
    selected = selected || queues[0].name;
    list.replaceChildren(card("All queues", h("table", { class: "grid queues" },
      h("thead", {}, h("tr", {}, h("th", {}, "Queue"), h("th", { class: "num" }, "Depth"), h("th", { class: "num" }, "Oldest wait"),
        h("th", { class: "num" }, "Running"), h("th", { class: "num" }, "GPUs"), h("th", {}, "Preemptible"))),
      h("tbody", {}, queues.map((q) => h("tr", { class: q.name === selected ? "selected" : "", dataset: { queue: q.name } },
        h("td", {}, h("a", { href: `#/queues/${encodeURIComponent(q.name)}` }, q.name)),
        h("td", { class: "num" }, String(q.depth)),
        h("td", { class: "num" }, q.oldest_wait_s === null ? "–" : duration(q.oldest_wait_s)),
        h("td", { class: "num running" }, usedOf(q.running, q.max_running)),
        h("td", { class: "num gpus" }, usedOf(q.gpus_in_use, q.max_gpus)),
        h("td", { class: "preemptible" }, q.preemptible ? "yes" : "–")))))));
  }

  // Whatever the action returns, the page is drawn again as it was asked for (same
  // page of the queue), never with the action's own default page size.
  async function act(fn) {
    busy = true;
    try {
      await fn();
      flash.replaceChildren();
      await load();
    } catch (e) {
      flash.replaceChildren(errorBox(e));
      await load();
    } finally {
      busy = false;
    }
  }

  const move = (taskId, to) => act(() => post(`/queues/${seg(String(selected))}/move`, { task_id: taskId, to }));
  // True once the server took the limits (act shows a refusal, such as 422, itself).
  const saveLimits = async (body) => {
    let saved = false;
    await act(async () => {
      await patch(`/queues/${seg(String(selected))}`, body);
      saved = true;
    });
    return saved;
  };
  // A redraw would take the focus (and the caret) from the field being typed in.
  const typingLimits = () => !!detail.querySelector(".limits-form")?.contains(document.activeElement);
  const dequeue = (taskId) => act(() => post(`/tasks/${seg(taskId)}/dequeue`));
  // Off this queue and onto the other with its priority, in one step on the server: a
  // refused move (the queue was deleted meanwhile) leaves the task where it was.
  const moveTo = (entry, target) => act(() => post(`/tasks/${seg(entry.task_id)}/move`, { queue: target }));

  function moveForm(entry) {
    const others = queueNames.filter((n) => n !== selected);
    const choice = picked.get(entry.task_id);
    const target = h("select", { name: "target", "aria-label": `queue to move ${entry.name} to`, onchange: () => picked.set(entry.task_id, target.value) },
      others.map((n) => h("option", { value: n, selected: n === choice }, n)));
    return h("form", { class: "inline-form move-form", onsubmit: (ev) => {
      ev.preventDefault();
      picked.delete(entry.task_id);
      moveTo(entry, target.value);
    } }, target, h("button", { type: "submit", class: "small", disabled: !others.length }, "Move"));
  }

  function pager(depth) {
    if (depth <= PAGE && offset === 0) return null;
    const go = (to) => {
      offset = Math.max(0, to);
      replaceQuery({ offset: offset || "" });
      load();
    };
    return h("div", { class: "pager" },
      h("button", { disabled: offset === 0, onclick: () => go(offset - PAGE) }, "← Earlier"),
      h("span", { class: "muted" }, `${Math.min(depth, offset + 1)}–${Math.min(depth, offset + PAGE)} of ${depth}`),
      h("button", { id: "queue-next", disabled: offset + PAGE >= depth, onclick: () => go(offset + PAGE) }, "Later →"));
  }

  function drawDetail(queue) {
    const n = queue.entries.length;
    const first = (i) => offset + i === 0;
    const last = (i) => offset + i === queue.depth - 1;
    const rows = queue.entries.map((e, i) => h("tr", { dataset: { id: e.task_id } },
      h("td", { class: "num muted" }, String(offset + i + 1)),
      h("td", {}, taskLink(e.task_id, e.name)),
      h("td", {}, e.project),
      h("td", { class: "num" }, String(e.priority)),
      h("td", { class: "num" }, ageOf(e.enqueued)),
      writes(h("td", { class: "row-actions" },
        h("button", { class: "small icon", title: "move to the top", "aria-label": "top", disabled: first(i), onclick: () => move(e.task_id, "top") }, "⤒"),
        h("button", { class: "small icon", title: "move up", "aria-label": "up", disabled: first(i), onclick: () => move(e.task_id, "up") }, "↑"),
        h("button", { class: "small icon", title: "move down", "aria-label": "down", disabled: last(i), onclick: () => move(e.task_id, "down") }, "↓"),
        h("button", { class: "small icon", title: "move to the bottom", "aria-label": "bottom", disabled: last(i), onclick: () => move(e.task_id, "bottom") }, "⤓"),
        moveForm(e),
        h("button", { class: "small danger", title: "take it off the queue (back to draft)", onclick: () => dequeue(e.task_id) }, "Dequeue")))));
    detail.replaceChildren(card(`Queue ${queue.name} — ${queue.depth} waiting${queue.oldest_wait_s !== null ? `, oldest ${duration(queue.oldest_wait_s)}` : ""}`,
      writes(limitsForm(queue, drafts, saveLimits)), // the list shows the limits to all
      n ? h("table", { class: "grid entries", id: "queue-entries" },
        h("thead", {}, h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Task"), h("th", {}, "Project"), h("th", { class: "num" }, "Priority"), h("th", { class: "num" }, "Waiting"), writes(h("th", {})))),
        h("tbody", {}, rows)) : empty(offset ? "Nothing this far down the queue." : "Nothing waiting: agents took everything."),
      pager(queue.depth)));
  }

  async function load() {
    try {
      const queues = await get("/queues");
      if (!ctx.alive) return;
      queueNames = queues.map((q) => q.name);
      drawList(queues);
      if (selected && queues.some((q) => q.name === selected)) {
        const queue = await get(`/queues/${seg(selected)}${query({ limit: PAGE, offset })}`);
        if (!ctx.alive) return;
        // A queue that shrank under this page shows its last page instead of nothing.
        if (!queue.entries.length && offset && queue.depth) {
          offset = Math.floor((queue.depth - 1) / PAGE) * PAGE;
          return load();
        }
        if (!typingLimits()) drawDetail(queue);
      }
      else detail.replaceChildren();
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  ctx.every(3000, () => !busy && load());
  await load();
}
