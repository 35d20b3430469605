// @ts-check
// Bulk actions on the selected rows of the runs table: abort, enqueue, dequeue, delete,
// tag, compare. Each task is its own request; the summary says how many worked and why
// the others did not (a running task cannot be dequeued, a draft cannot be aborted twice).
import { del, get, patch, post, seg } from "../api.js";
import { confirmButton, errorBox, h, writes } from "../dom.js";
import { navigate } from "../router.js";
import { queueInput } from "../queue_choice.js";

/**
 * Run fn on every id, a few at a time; resolves to the failures as "id: message".
 * @param {string[]} ids
 * @param {(id: string) => Promise<unknown>} fn
 * @returns {Promise<string[]>}
 */
async function each(ids, fn) {
  /** @type {string[]} */
  const failures = [];
  const queue = [...ids];
  const worker = async () => {
    for (let id = queue.shift(); id; id = queue.shift()) {
      try {
        await fn(id);
      } catch (e) {
        failures.push(`${id.slice(0, 8)}: ${e instanceof Error ? e.message : e}`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return failures;
}

/**
 * The bulk bar; selected() gives the chosen ids, done() redraws after an action.
 * @param {{selected: () => string[], done: (message: HTMLElement) => void, choices: {names: string[], served: Set<string>}}} options
 */
export function bulkBar({ selected, done, choices }) {
  const count = h("span", { class: "muted", id: "bulk-count" });
  const [queue, queueNames] = queueInput("bulk-queues", [...choices.served].sort()[0] || "", choices);
  queue.setAttribute("aria-label", "queue to enqueue on");
  const tag = h("input", { name: "bulk-tag", placeholder: "tag", "aria-label": "tag to add", size: 10 });

  /**
   * @param {string} what past tense, e.g. "aborted"
   * @param {(id: string) => Promise<unknown>} fn
   */
  const run = async (what, fn) => {
    const ids = selected();
    const failures = await each(ids, fn);
    const worked = ids.length - failures.length;
    const message = h("div", { class: failures.length ? "error-box" : "notice", role: "status", id: "bulk-result" },
      `${worked} of ${ids.length} ${what}.`,
      failures.length ? h("ul", {}, failures.slice(0, 10).map((f) => h("li", {}, f))) : null);
    done(message);
  };

  // All but Compare change something: a viewer is not offered them.
  const changes = [
    confirmButton("Abort", "Abort them?", () => run("aborted", (id) => post(`/tasks/${seg(id)}/abort`)), "bulk-abort"),
    h("span", { class: "inline-form" }, queue, queueNames,
      h("button", { type: "button", id: "bulk-enqueue", onclick: () => {
        if (!queue.value.trim()) return done(errorBox(new Error("Name a queue to enqueue on.")));
        run(`enqueued on ${queue.value.trim()}`, (id) => post(`/tasks/${seg(id)}/enqueue`, { queue: queue.value.trim() }));
      } }, "Enqueue")),
    h("button", { type: "button", id: "bulk-dequeue", onclick: () => run("dequeued (now drafts)", (id) => post(`/tasks/${seg(id)}/dequeue`)) }, "Dequeue"),
    h("span", { class: "inline-form" }, tag,
      h("button", { type: "button", id: "bulk-tag", onclick: () => {
        const name = tag.value.trim();
        if (!name) return done(errorBox(new Error("Type the tag to add.")));
        run(`tagged ${name}`, async (id) => {
          const task = await get(`/tasks/${seg(id)}`);
          if (!task.tags.includes(name)) await patch(`/tasks/${seg(id)}`, { tags: [...task.tags, name] });
        });
      } }, "Tag")),
    confirmButton("Delete", "Delete them?", () => run("deleted", (id) => del(`/tasks/${seg(id)}`)), "bulk-delete"),
  ].map(writes);
  const buttons = [
    h("button", { type: "button", id: "bulk-compare", onclick: () => navigate("/compare", { ids: selected().join(",") }) }, "Compare"),
    ...changes,
  ];
  const el = h("div", { class: "bulk-bar", id: "bulk-bar", role: "toolbar", "aria-label": "actions on the selected tasks", hidden: true }, count, buttons);
  return {
    el,
    /** @param {number} n */
    show(n) {
      el.hidden = n === 0;
      count.textContent = `${n} selected`;
    },
  };
}
