// @ts-check
// Which queue a form suggests for a task: the one it was on, else one a live worker
// serves, else none (a draft). Never merely the first queue by name: nobody may serve
// it, and a task enqueued there waits forever.
import { get } from "./api.js";
import { h } from "./dom.js";

/**
 * The queue names, and those a live worker serves.
 * @returns {Promise<{names: string[], served: Set<string>}>}
 */
export async function queueChoices() {
  const [queues, workers] = await Promise.all([get("/queues"), get("/workers").catch(() => [])]);
  const served = new Set(workers.filter((/** @type {any} */ w) => w.alive).flatMap((/** @type {any} */ w) => w.queues));
  return { names: queues.map((/** @type {any} */ q) => q.name), served };
}

/**
 * @param {{queue?: string | null}} task
 * @param {{names: string[], served: Set<string>}} choices
 * @returns {string} "" when no queue is a safe guess
 */
export function suggestQueue(task, { names, served }) {
  if (task.queue) return task.queue;
  return names.find((name) => served.has(name)) || [...served].sort()[0] || "";
}

/**
 * A queue input with the known queues as suggestions, served ones marked.
 * @param {string} id the datalist's id
 * @param {string} value
 * @param {{names: string[], served: Set<string>}} choices
 * @returns {[HTMLInputElement, HTMLDataListElement]}
 */
export function queueInput(id, value, { names, served }) {
  return [
    h("input", { name: "queue", list: id, value, placeholder: "leave empty for a draft", autocomplete: "off" }),
    h("datalist", { id }, names.map((name) => h("option", { value: name }, served.has(name) ? "served" : "no live worker"))),
  ];
}
