// @ts-check
// A queue's limits (max running tasks, max GPUs in use) and its preemptible flag: how
// the queues page shows them and the form that changes them. What the operator typed
// lives in a map kept by the page, so the page's redraw every 3 s keeps it.
import { h } from "./dom.js";

/**
 * @typedef {{max_running: string, max_gpus: string, preemptible: boolean}} LimitsDraft
 * @typedef {{name: string, running: number, gpus_in_use: number,
 *   max_running: number | null, max_gpus: number | null, preemptible: boolean}} QueueLimits
 */

/**
 * "used / limit", or "used" alone where there is no limit.
 * @param {number} used
 * @param {number | null} limit
 */
export function usedOf(used, limit) {
  return limit === null ? String(used) : `${used} / ${limit}`;
}

/** @param {string} text a number input's value; "" is no limit */
const limitValue = (text) => (text.trim() === "" ? null : Number(text));

/**
 * The settings form of one queue.
 * @param {QueueLimits} queue as the server last sent it
 * @param {Map<string, LimitsDraft>} drafts what was typed and not saved yet, by queue
 * @param {(body: object) => Promise<boolean>} save sends the PATCH; true once saved (the draft goes)
 */
export function limitsForm(queue, drafts, save) {
  const shown = drafts.get(queue.name) || {
    max_running: queue.max_running === null ? "" : String(queue.max_running),
    max_gpus: queue.max_gpus === null ? "" : String(queue.max_gpus),
    preemptible: queue.preemptible,
  };
  const maxRunning = h("input", { name: "max_running", type: "number", min: 0, step: 1, placeholder: "no limit", value: shown.max_running, "aria-label": "max running tasks" });
  const maxGpus = h("input", { name: "max_gpus", type: "number", min: 0, step: 0.125, placeholder: "no limit", value: shown.max_gpus, "aria-label": "max GPUs in use" });
  const preemptible = h("input", { name: "preemptible", type: "checkbox", checked: shown.preemptible });
  const keep = () => drafts.set(queue.name, { max_running: maxRunning.value, max_gpus: maxGpus.value, preemptible: preemptible.checked });
  return h("form", { class: "inline-form limits-form", oninput: keep, onchange: keep, onsubmit: async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    keep();
    const body = { max_running: limitValue(maxRunning.value), max_gpus: limitValue(maxGpus.value), preemptible: preemptible.checked };
    if (await save(body)) drafts.delete(queue.name);
  } },
  h("label", {}, "Max running ", maxRunning),
  h("label", {}, "Max GPUs ", maxGpus),
  h("label", { title: "a higher-priority task that fits nowhere may preempt this queue's tasks" }, preemptible, " preemptible"),
  h("button", { type: "submit", class: "small" }, "Save limits"));
}
