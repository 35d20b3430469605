// @ts-check
// Audit: who changed what, when and from where (GET /audit), with a time and caller filter.
import { get, query } from "../api.js";
import { ago, card, empty, errorBox, h, setTitle, table } from "../dom.js";
import { replaceQuery } from "../router.js";

/** The windows offered, in seconds; "1d" is the default, as in `runyard audit`. */
const WINDOWS = { "1h": 3600, "1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };

/** @type {import("../dom.js").Column<any>[]} */
const COLUMNS = [
  { label: "When", cell: (e) => ago(new Date(e.at * 1000).toISOString()) },
  { label: "Who", value: (e) => e.who, class: "who" },
  { label: "Method", value: (e) => e.method },
  { label: "Route", cell: (e) => h("code", {}, e.route) },
  { label: "Object", value: (e) => e.object },
  { label: "Status", value: (e) => e.status, class: "num" },
  { label: "Client", value: (e) => e.client },
  { label: "Request", cell: (e) => h("code", { class: "muted" }, e.request_id) },
];

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} q the route's query: since (1h|1d|7d|30d), user
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function auditPage(_params, q, root, ctx) {
  setTitle("Audit");
  // The filters live in the URL, so a redraw (or a reload) keeps what was picked.
  const state = { since: q.since in WINDOWS ? q.since : "1d", user: q.user || "" };
  const since = h("select", { name: "since", "aria-label": "since" },
    Object.keys(WINDOWS).map((k) => h("option", { value: k, selected: k === state.since }, `last ${k}`)));
  const user = h("input", { name: "user", placeholder: "who (user, agent, task:ID…)", value: state.user, "aria-label": "who", autocomplete: "off" });
  const body = h("div", { id: "audit" });
  const flash = h("div");
  const summary = h("span", { class: "muted" });
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Audit"), summary),
    h("form", { class: "filters", role: "search", onsubmit: (/** @type {Event} */ e) => e.preventDefault() }, since, user),
    flash, body);

  let asked = 0;
  async function load() {
    const mine = ++asked;
    try {
      const from = Date.now() / 1000 - WINDOWS[/** @type {keyof typeof WINDOWS} */ (state.since)];
      const page = await get(`/audit${query({ since: from, user: state.user, limit: 500 })}`);
      // Only the newest request draws: a slow answer must not overwrite a later filter.
      if (!ctx.alive || mine !== asked) return;
      flash.replaceChildren();
      const entries = page.entries;
      summary.textContent = `${entries.length} request${entries.length === 1 ? "" : "s"}${entries.length === 500 ? " (newest 500)" : ""}`;
      body.replaceChildren(entries.length
        ? table(COLUMNS, entries, { className: "audit", rowAttrs: (e) => ({ dataset: { entry: e.id } }) })
        : card(null, empty("No state-changing requests in this window.")));
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  const refilter = () => {
    state.since = /** @type {HTMLSelectElement} */ (since).value;
    state.user = /** @type {HTMLInputElement} */ (user).value.trim();
    replaceQuery({ since: state.since === "1d" ? "" : state.since, user: state.user });
    load();
  };
  since.addEventListener("change", refilter);
  user.addEventListener("change", refilter);
  ctx.every(5000, load);
  await load();
}
