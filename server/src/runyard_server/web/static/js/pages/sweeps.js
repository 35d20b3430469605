// @ts-check
// Sweeps, newest first: status, progress, trials in flight and the best value so far,
// filtered by project and status (kept in the URL, so a reload and the redraw keep them).
import { get, query } from "../api.js";
import { ago, badge, card, empty, errorBox, h, setTitle, table } from "../dom.js";
import { replaceQuery } from "../router.js";

const STATUSES = ["", "running", "stopped", "done", "failed"];
const POLL_MS = 5000;

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function sweepsPage(_params, q, root, ctx) {
  setTitle("Sweeps");
  const filters = { project: q.project || "", status: STATUSES.includes(q.status) ? q.status : "" };
  const project = h("input", { name: "project", placeholder: "project", value: filters.project, "aria-label": "project" });
  const status = h("select", { name: "status", "aria-label": "status" },
    STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, s || "any status")));
  const list = h("div");
  const flash = h("div");
  const form = h("form", { class: "inline-form", onsubmit: (/** @type {Event} */ e) => {
    e.preventDefault();
    filters.project = project.value.trim();
    filters.status = status.value;
    replaceQuery(filters);
    load();
  } }, project, status, h("button", { type: "submit" }, "Filter"));
  status.addEventListener("change", () => form.requestSubmit());
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Sweeps"), h("span", { class: "spacer" }), form), flash, list);

  /** @param {any} s */
  const progress = (s) => `${s.counts.completed + s.counts.failed + s.counts.pruned} / ${s.trials}`;
  /** @param {any} s */
  const best = (s) => (s.best ? h("span", { title: String(s.best.value) }, String(Number(s.best.value.toPrecision(6)))) : h("span", { class: "muted" }, "–"));

  async function load() {
    try {
      const page = await get(`/sweeps${query({ ...filters, limit: 100 })}`);
      if (!ctx.alive) return;
      flash.replaceChildren();
      list.replaceChildren(page.sweeps.length
        ? card(null, table([
          { label: "Sweep", cell: (s) => h("a", { href: `#/sweep/${s.id}`, class: "sweep-link" }, s.name) },
          { label: "Project", value: (s) => s.project },
          { label: "Status", cell: (s) => badge(s.status) },
          { label: "Trials", cell: (s) => progress(s), class: "num" },
          { label: "In flight", cell: (s) => String(s.counts.running + s.counts.queued), class: "num" },
          { label: "Objective", cell: (s) => h("span", {}, `${s.direction} `, h("code", {}, s.objective)) },
          { label: "Best", cell: best, class: "num" },
          { label: "Created", cell: (s) => ago(s.created) },
        ], page.sweeps, { className: "sweeps", rowAttrs: (s) => ({ dataset: { id: s.id } }) }))
        : empty("No sweeps yet: start one with `runyard sweep create BASE --param ...` or runyard.Sweep.create(...)."));
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  ctx.every(POLL_MS, load);
  await load();
}
