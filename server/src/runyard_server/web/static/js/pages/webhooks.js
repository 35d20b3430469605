// @ts-check
// Webhooks: each with its URL, events, project and body format; the selected one's
// deliveries, newest first, with their status, attempts, the receiver's answer and when
// the next attempt is due. Delete for whoever may change it.
import { del, get, seg } from "../api.js";
import { ago, badge, card, confirmButton, empty, errorBox, h, setTitle, table, writes } from "../dom.js";
import { quietRedraw } from "../redraw.js";
import { navigate } from "../router.js";

/** A delivery's status as a badge: delivered green, pending amber, failed (given up) red. */
const DELIVERY_BADGE = { delivered: "completed", pending: "queued", failed: "failed" };

/** @type {import("../dom.js").Column<any>[]} */
const DELIVERY_COLUMNS = [
  { label: "Event", cell: (d) => h("code", {}, d.event) },
  { label: "Status", cell: (d) => h("span", { class: `badge status-${DELIVERY_BADGE[/** @type {keyof typeof DELIVERY_BADGE} */ (d.status)] || "draft"}` }, d.status) },
  { label: "Attempts", value: (d) => d.attempts, class: "num attempts" },
  { label: "Answer", cell: (d) => [d.response_code ? h("code", {}, String(d.response_code)) : null, d.error ? h("div", { class: "muted delivery-error" }, d.error) : null] },
  { label: "Created", cell: (d) => ago(d.created) },
  { label: "Last attempt", cell: (d) => ago(d.last_attempt) },
  { label: "Next attempt", cell: (d) => (d.next_attempt ? new Date(d.next_attempt).toLocaleString() : h("span", { class: "muted" }, "–")) },
  { label: "Event id", cell: (d) => h("code", { class: "muted", title: "the same for every attempt: receivers dedupe on it" }, d.event_id) },
];

/**
 * @param {Record<string, string>} params from the route pattern: id (the webhook shown)
 * @param {Record<string, string>} _q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function webhooksPage({ id }, _q, root, ctx) {
  setTitle("Webhooks");
  const flash = h("div");
  const list = h("div", { id: "webhooks" });
  const detail = h("div", { id: "deliveries" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Webhooks")), flash, h("div", { class: "stack" }, list, detail));
  const drawList = quietRedraw(list);
  const drawDetail = quietRedraw(detail);
  // The selected webhook lives in the URL (#/webhooks/ID), so a redraw or a reload keeps it.
  let selected = id || "";

  /** @param {any} w */
  async function remove(w) {
    try {
      await del(`/webhooks/${seg(w.id)}`);
      flash.replaceChildren();
      if (w.id === selected) navigate("/webhooks");
      else await load();
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }

  /** @type {import("../dom.js").Column<any>[]} */
  const columns = [
    { label: "URL", cell: (w) => h("a", { href: `#/webhooks/${encodeURIComponent(w.id)}`, class: "webhook-url" }, w.url) },
    { label: "Events", cell: (w) => w.events.map((/** @type {string} */ e) => h("span", { class: "tag" }, e)) },
    { label: "Project", value: (w) => w.project || "all" },
    { label: "Format", value: (w) => w.format },
    { label: "Owner", value: (w) => w.owner || "–" },
    { label: "Created", cell: (w) => ago(w.created) },
    { label: "", cell: (w) => writes(confirmButton("Delete", "Really delete?", () => remove(w), `delete-${w.id}`)) },
  ];

  async function load() {
    try {
      /** @type {any[]} */
      const hooks = await get("/webhooks");
      const chosen = hooks.find((w) => w.id === selected);
      /** @type {any[]} */
      const deliveries = chosen ? await get(`/webhooks/${seg(chosen.id)}/deliveries`) : [];
      if (!ctx.alive) return;
      drawList.show([hooks, selected], () => list.replaceChildren(card("All webhooks", hooks.length
        ? table(columns, hooks, { className: "webhooks", rowAttrs: (w) => ({ dataset: { webhook: w.id }, class: w.id === selected ? "selected" : "" }) })
        : empty("No webhooks: `runyard webhook create URL --events task.failed` makes one."))));
      if (!chosen) {
        detail.replaceChildren(selected ? errorBox(`No webhook ${selected}.`) : card(null, empty("Pick a webhook to see its deliveries.")));
        drawDetail.reset();
        return;
      }
      drawDetail.show(deliveries, () => detail.replaceChildren(card(`Deliveries to ${chosen.url}`, deliveries.length
        ? table(DELIVERY_COLUMNS, deliveries, { className: "deliveries", rowAttrs: (d) => ({ dataset: { delivery: d.id, event: d.event_id } }) })
        : empty("Nothing sent yet: a delivery appears when one of its events happens."))));
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  ctx.every(3000, load);
  await load();
}
