// @ts-check
// Tasks: filters, a name search and a sort, all done by the server across every page
// (cursor-paged), and compare.
import { get, query } from "../api.js";
import { ago, badge, duration, empty, errorBox, h, taskLink } from "../dom.js";
import { navigate, replaceQuery } from "../router.js";

const STATUSES = ["", "draft", "queued", "running", "completed", "failed", "aborted"];
const FILTERS = ["project", "status", "queue", "tag", "q"];

function runtime(task) {
  if (!task.started) return null;
  const end = task.finished ? Date.parse(task.finished) : Date.now();
  return (end - Date.parse(task.started)) / 1000;
}

// `sort` names the server's sort for a column (GET /tasks?sort=); the others are not sortable.
const COLUMNS = [
  { key: "name", label: "Name", sort: "name", cell: (t) => taskLink(t.id, t.name) },
  { key: "id", label: "ID", cell: (t) => h("code", { class: "muted" }, t.id.slice(0, 8)) },
  { key: "status", label: "Status", cell: (t) => badge(t.status) },
  { key: "project", label: "Project", cell: (t) => t.project },
  { key: "queue", label: "Queue", cell: (t) => t.queue || "" },
  { key: "tags", label: "Tags", cell: (t) => t.tags.map((tag) => h("span", { class: "tag" }, tag)) },
  { key: "created", label: "Created", sort: "created", cell: (t) => ago(t.created) },
  { key: "finished", label: "Finished", sort: "finished", cell: (t) => (t.finished ? ago(t.finished) : "") },
  { key: "runtime", label: "Runtime", cell: (t) => duration(runtime(t)) },
];

/** @param {string} sort */
const defaultOrder = (sort) => (sort === "name" ? "asc" : "desc");

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function tasksPage(_params, q, root, ctx) {
  const state = {
    filters: Object.fromEntries(FILTERS.map((k) => [k, q[k] || ""])),
    limit: Number(q.limit) || 50,
    cursor: q.cursor || null,
    /** @type {(string | null)[]} */
    previous: [],
    sort: q.sort || "created",
    order: q.order || "",
    selected: new Set(),
    page: { items: [], next_cursor: null },
  };

  const inputs = {
    project: h("input", { name: "project", placeholder: "project", value: state.filters.project }),
    status: h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s, selected: s === state.filters.status }, s || "any status"))),
    queue: h("input", { name: "queue", placeholder: "queue", value: state.filters.queue }),
    tag: h("input", { name: "tag", placeholder: "tag", value: state.filters.tag }),
    q: h("input", { name: "q", type: "search", placeholder: "search names…", value: state.filters.q, class: "grow" }),
  };
  const metric = h("input", { name: "metric", placeholder: "sort by metric, e.g. val/acc", title: "sort every task by the last value of this metric series", value: state.sort.startsWith("metric:") ? state.sort.slice(7) : "" });
  const limit = h("select", { name: "limit", title: "rows per page" }, [25, 50, 100, 200, 500].map((n) => h("option", { value: n, selected: n === state.limit }, `${n} / page`)));
  const compare = h("button", { class: "primary", id: "compare-selected", disabled: true }, "Compare");
  const autoRefresh = h("input", { type: "checkbox", checked: true, name: "auto-refresh" });
  const tableBox = h("div", { class: "table-box" });
  const pager = h("div", { class: "pager" });
  const error = h("div");

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Tasks"), h("span", { class: "spacer" }), h("label", { class: "inline muted" }, autoRefresh, " auto-refresh"), compare),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, Object.values(inputs), metric, limit),
    error,
    tableBox,
    pager,
  );

  function syncUrl() {
    replaceQuery({ ...state.filters, limit: state.limit === 50 ? "" : state.limit, cursor: state.cursor || "", sort: state.sort === "created" ? "" : state.sort, order: state.order });
  }

  // A new sort or filter starts again at the first page: a cursor belongs to one sort.
  function restart() {
    state.cursor = null;
    state.previous = [];
    syncUrl();
    load();
  }

  // Only the newest request may draw: a slow search must not overwrite a later filter.
  let latest = 0;
  let pending = false;
  async function load() {
    const mine = ++latest;
    const params = { ...state.filters, sort: state.sort, order: state.order, limit: state.limit, cursor: state.cursor };
    pending = true;
    try {
      const page = await get(`/tasks${query(params)}`);
      if (mine !== latest || !ctx.alive) return;
      state.page = page;
      error.replaceChildren();
      draw();
    } catch (e) {
      if (mine === latest) error.replaceChildren(errorBox(e));
    } finally {
      if (mine === latest) pending = false;
    }
  }

  function columns() {
    if (!state.sort.startsWith("metric:")) return COLUMNS;
    const series = state.sort.slice(7);
    const value = (t) => state.page.metric_values?.[t.id] ?? "";
    return [...COLUMNS, { key: "metric", label: series, sort: state.sort, cell: value }];
  }

  function header(column) {
    if (!column.sort) return h("th", {}, column.label);
    const order = state.order || defaultOrder(state.sort);
    const arrow = state.sort === column.sort ? (order === "desc" ? " ▼" : " ▲") : "";
    return h("th", { class: "sortable", title: "sort all tasks", onclick: () => {
      if (state.sort === column.sort) {
        state.order = order === "desc" ? "asc" : "desc";
      } else {
        state.sort = column.sort;
        state.order = "";
      }
      restart();
    } }, column.label + arrow);
  }

  function draw() {
    const items = state.page.items;
    const shown = columns();
    compare.disabled = state.selected.size < 2;
    compare.textContent = state.selected.size ? `Compare (${state.selected.size})` : "Compare";
    if (!items.length) {
      // The server scans a bounded slice of the index per request, so a rare filter can
      // give an empty page that still has a cursor to look further.
      const text = state.page.next_cursor
        ? "No matches in this stretch of tasks; press Older → to keep looking."
        : state.cursor ? "No more tasks." : "No tasks match these filters.";
      tableBox.replaceChildren(empty(text));
    } else {
      const rows = items.map((t) => h("tr", { dataset: { id: t.id } },
        h("td", { class: "check" }, h("input", { type: "checkbox", "aria-label": `select ${t.name}`, checked: state.selected.has(t.id), onchange: (e) => {
          if (e.target.checked) state.selected.add(t.id);
          else state.selected.delete(t.id);
          draw();
        } })),
        shown.map((c) => h("td", { class: `col-${c.key}` }, c.cell(t)))));
      tableBox.replaceChildren(h("table", { class: "grid tasks" }, h("thead", {}, h("tr", {}, h("th", { class: "check" }), shown.map(header))), h("tbody", {}, rows)));
    }
    const first = state.previous.length === 0 && !state.cursor;
    pager.replaceChildren(
      h("button", { disabled: first, onclick: () => {
        state.cursor = state.previous.pop() || null;
        syncUrl();
        load();
      } }, "← Newer"),
      h("span", { class: "muted" }, `${state.page.items.length} shown${first ? "" : " (not the first page)"}`),
      h("button", { id: "older", disabled: !state.page.next_cursor, onclick: () => {
        state.previous.push(state.cursor);
        state.cursor = state.page.next_cursor;
        syncUrl();
        load();
      } }, "Older →"),
    );
  }

  let debounce = null;
  const refilter = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      for (const key of FILTERS) state.filters[key] = inputs[key].value.trim();
      restart();
    }, 250);
  };
  for (const input of Object.values(inputs)) input.addEventListener(input.tagName === "SELECT" ? "change" : "input", refilter);
  metric.addEventListener("change", () => {
    const series = metric.value.trim();
    state.sort = series ? `metric:${series}` : "created";
    state.order = "";
    restart();
  });
  limit.addEventListener("change", () => {
    state.limit = Number(limit.value);
    restart();
  });
  compare.addEventListener("click", () => navigate("/compare", { ids: [...state.selected].join(",") }));
  ctx.onCleanup(() => clearTimeout(debounce));
  ctx.every(4000, () => autoRefresh.checked && !pending && load());
  await load();
}
