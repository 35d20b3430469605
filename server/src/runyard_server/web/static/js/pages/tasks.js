// @ts-check
// The runs table: filters (with suggestions), a search by name or id prefix, and a sort
// on any column (parameters and final metrics too), all done by the server across every
// page (cursor-paged); columns to choose; bulk actions on the selected rows. Pages are
// summaries (GET /tasks?view=summary): no diffs or package lists travel with a list.
import { ApiError, get, query, seg } from "../api.js";
import { empty, errorBox, h, setTitle } from "../dom.js";
import { replaceQuery } from "../router.js";
import { queueChoices } from "../queue_choice.js";
import { loadJson, storeJson } from "../storage.js";
import { flatParams } from "../params.js";
import { bulkBar } from "./task_bulk.js";
import { DEFAULT_COLUMNS, METRIC_KINDS, columnChooser, columnFor, metricColumn } from "./task_columns.js";

const STATUSES = ["", "draft", "queued", "running", "completed", "failed", "aborted"];
const FILTERS = ["project", "status", "queue", "tag", "owner", "q"];
const LIMITS = [25, 50, 100, 200, 500];
const MAX_LIMIT = 1000;
const COLUMNS_KEY = "runyard.tasks.columns";
/** A search that may be the start of a task id (ids are 32 hex digits). */
const ID_PREFIX = /^[0-9a-f]{4,32}$/;

/** @param {string} sort */
const defaultOrder = (sort) => (sort === "name" ? "asc" : "desc");

/**
 * Rows per page from the URL: a whole number within the server's limit.
 * @param {string | undefined} text
 */
function pageSize(text) {
  const n = Math.floor(Number(text));
  return Number.isFinite(n) && n >= 1 ? Math.min(n, MAX_LIMIT) : 50;
}

/**
 * @param {string} id
 * @param {string[]} values
 */
const datalist = (id, values) => h("datalist", { id }, values.map((v) => h("option", { value: v })));

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function tasksPage(_params, q, root, ctx) {
  setTitle("Tasks");
  const state = {
    filters: Object.fromEntries(FILTERS.map((k) => [k, q[k] || ""])),
    limit: pageSize(q.limit),
    cursor: q.cursor || null,
    /** @type {(string | null)[]} */
    previous: [],
    sort: q.sort || "created",
    order: q.order || "",
    /** @type {Set<string>} */
    selected: new Set(),
    /** @type {{items: any[], next_cursor: string | null}} */
    page: { items: [], next_cursor: null },
    /** @type {any | null} a task whose id starts with the search */
    idMatch: null,
    /** @type {string[]} */
    columns: loadJson(COLUMNS_KEY, DEFAULT_COLUMNS).filter((/** @type {string} */ k) => columnFor(k)),
  };
  // A sort by a column not shown adds the column: the sorted values must be visible.
  if ((state.sort.startsWith("param:") || metricColumn(state.sort)) && !state.columns.includes(state.sort)) state.columns.push(state.sort);

  const inputs = {
    project: h("input", { name: "project", placeholder: "project", value: state.filters.project, list: "project-names", "aria-label": "project", autocomplete: "off" }),
    status: h("select", { name: "status", "aria-label": "status" }, STATUSES.map((s) => h("option", { value: s, selected: s === state.filters.status }, s || "any status"))),
    queue: h("input", { name: "queue", placeholder: "queue", value: state.filters.queue, list: "queue-names", "aria-label": "queue", autocomplete: "off" }),
    tag: h("input", { name: "tag", placeholder: "tag", value: state.filters.tag, list: "tag-names", "aria-label": "tag", autocomplete: "off" }),
    owner: h("input", { name: "owner", placeholder: "owner", value: state.filters.owner, "aria-label": "owner", title: "only tasks this user created", autocomplete: "off" }),
    q: h("input", { name: "q", type: "search", placeholder: "search names or an id prefix…", value: state.filters.q, class: "grow", "aria-label": "search names or an id prefix" }),
  };
  const suggestions = h("div", { hidden: true });
  const metric = h("input", { name: "metric", placeholder: "sort by metric, e.g. val/acc", list: "series-names", title: "sort every task by the last value of this metric series", "aria-label": "sort by metric", autocomplete: "off", value: state.sort.startsWith("metric:") ? state.sort.slice(7) : "" });
  const sizes = LIMITS.includes(state.limit) ? LIMITS : [...LIMITS, state.limit].sort((a, b) => a - b);
  const limit = h("select", { name: "limit", title: "rows per page", "aria-label": "rows per page" }, sizes.map((n) => h("option", { value: n, selected: n === state.limit }, `${n} / page`)));
  const autoRefresh = h("input", { type: "checkbox", checked: true, name: "auto-refresh" });
  const chooserBox = h("span");
  const tableBox = h("div", { class: "table-box" });
  const pager = h("div", { class: "pager" });
  const error = h("div");
  const notice = h("div");
  /** @type {{params: string[], metrics: string[]}} */
  const known = { params: [], metrics: [] };
  const choices = await queueChoices().catch(() => ({ names: [], served: new Set() }));
  const bulk = bulkBar({
    selected: () => [...state.selected],
    choices,
    done: (message) => {
      notice.replaceChildren(message);
      state.selected.clear();
      drawn = "";
      load();
    },
  });

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Tasks"), h("span", { class: "spacer" }), h("label", { class: "inline muted" }, autoRefresh, " auto-refresh"), chooserBox),
    h("form", { class: "filters", role: "search", onsubmit: (/** @type {Event} */ e) => e.preventDefault() }, Object.values(inputs), metric, limit),
    suggestions,
    bulk.el,
    notice,
    error,
    tableBox,
    pager,
  );

  // Suggestions for the filters: names the server knows (projects and tags from their
  // indexes, queues, metric series); a failure leaves plain inputs.
  Promise.all([get("/projects?latest=0"), get("/tags"), get("/metric-series")]).then(([projects, tags, series]) => {
    known.metrics = series;
    suggestions.replaceChildren(
      datalist("project-names", projects.map((/** @type {any} */ p) => p.name)),
      datalist("tag-names", tags),
      datalist("queue-names", choices.names),
      datalist("series-names", series));
    drawChooser();
  }).catch(() => {});

  function syncUrl() {
    replaceQuery({ ...state.filters, limit: state.limit === 50 ? "" : state.limit, cursor: state.cursor || "", sort: state.sort === "created" ? "" : state.sort, order: state.order });
  }

  // A new sort or filter starts again at the first page: a cursor belongs to one sort.
  function restart() {
    drawn = "";
    state.cursor = null;
    state.previous = [];
    syncUrl();
    load();
  }

  // Only the newest request may draw: a slow search must not overwrite a later filter.
  let latest = 0;
  let pending = false;
  let drawn = "";
  async function load() {
    const mine = ++latest;
    /** @type {Record<string, string>} the summary's metric fields: metrics, metrics_min, metrics_max */
    const metrics = {};
    for (const kind of METRIC_KINDS) {
      metrics[kind.field] = state.columns.map(metricColumn).filter((m) => m?.field === kind.field).map((m) => m?.series).join(",");
    }
    const params = { ...state.filters, sort: state.sort, order: state.order, limit: state.limit, cursor: state.cursor, view: "summary", ...metrics };
    const search = state.filters.q.toLowerCase();
    pending = true;
    try {
      const [page, idMatch] = await Promise.all([
        get(`/tasks${query(params)}`),
        // A short id finds its task whatever its name; an unknown or ambiguous one finds none.
        ID_PREFIX.test(search) && !state.cursor ? get(`/tasks/${seg(search)}`).catch((e) => {
          if (e instanceof ApiError && e.status < 500) return null;
          throw e;
        }) : null,
      ]);
      if (mine !== latest || !ctx.alive) return;
      // An auto-refresh that changed nothing leaves the table (and the focus in it) alone.
      const text = JSON.stringify([page, idMatch]);
      if (text === drawn) return;
      drawn = text;
      state.page = page;
      state.idMatch = idMatch && !page.items.some((/** @type {any} */ t) => t.id === idMatch.id) ? idMatch : null;
      known.params = [...new Set(page.items.flatMap((/** @type {any} */ t) => flatParams(t.params).map(([p]) => p)))].sort();
      error.replaceChildren();
      draw();
      drawChooser();
    } catch (e) {
      if (mine === latest) error.replaceChildren(errorBox(e));
    } finally {
      if (mine === latest) pending = false;
    }
  }

  function drawChooser() {
    const open = chooserBox.querySelector("details")?.open;
    const chooser = columnChooser(state.columns, known, (keys) => {
      state.columns = keys;
      storeJson(COLUMNS_KEY, keys);
      drawn = "";
      load();
    });
    chooser.open = Boolean(open);
    chooserBox.replaceChildren(chooser);
  }

  /** @param {import("./task_columns.js").Column} column */
  function header(column) {
    if (!column.sort) return h("th", { class: column.class, scope: "col" }, column.label);
    const sort = column.sort;
    const order = state.order || defaultOrder(state.sort);
    const active = state.sort === sort;
    const arrow = active ? (order === "desc" ? " ▼" : " ▲") : "";
    const button = h("button", { type: "button", class: "sort", title: "sort all tasks by this column", dataset: { focusKey: `sort:${column.key}` }, onclick: () => {
      if (active) {
        state.order = order === "desc" ? "asc" : "desc";
      } else {
        state.sort = sort;
        state.order = "";
      }
      metric.value = sort.startsWith("metric:") ? sort.slice(7) : "";
      restart();
    } }, column.label + arrow);
    // The whole cell sorts on a click; the button inside is what the keyboard reaches.
    const th = h("th", { class: `sortable ${column.class || ""}`, scope: "col", "aria-sort": active ? (order === "desc" ? "descending" : "ascending") : "none" }, button);
    th.addEventListener("click", (event) => event.target === th && button.click());
    return th;
  }

  function draw() {
    const items = state.idMatch ? [state.idMatch, ...state.page.items] : state.page.items;
    const shown = /** @type {import("./task_columns.js").Column[]} */ (state.columns.map(columnFor).filter(Boolean));
    bulk.show(state.selected.size);
    if (!items.length) {
      // The server scans a bounded slice of the index per request, so a rare filter can
      // give an empty page that still has a cursor to look further.
      const text = state.page.next_cursor
        ? "No matches in this stretch of tasks; press Older → to keep looking."
        : state.cursor ? "No more tasks." : "No tasks match these filters.";
      tableBox.replaceChildren(empty(text));
    } else {
      const everyone = h("input", { type: "checkbox", "aria-label": "select every task on this page", dataset: { focusKey: "select-all" }, checked: items.every((t) => state.selected.has(t.id)), onchange: (/** @type {Event} */ e) => {
        for (const t of items) {
          if (/** @type {HTMLInputElement} */ (e.target).checked) state.selected.add(t.id);
          else state.selected.delete(t.id);
        }
        draw();
      } });
      const rows = items.map((t) => h("tr", { dataset: { id: t.id }, class: `${state.selected.has(t.id) ? "selected" : ""} ${t === state.idMatch ? "id-match" : ""}`.trim() },
        h("td", { class: "check" }, h("input", { type: "checkbox", "aria-label": `select ${t.name}`, dataset: { focusKey: `select:${t.id}` }, checked: state.selected.has(t.id), onchange: (/** @type {Event} */ e) => {
          if (/** @type {HTMLInputElement} */ (e.target).checked) state.selected.add(t.id);
          else state.selected.delete(t.id);
          draw();
        } })),
        shown.map((c) => h("td", { class: `col-${c.key.replace(/[^a-z0-9]+/gi, "-")} ${c.class || ""}`.trim() }, c.cell(t)))));
      // A redraw keeps the keyboard focus on the same control of the new table.
      const focusKey = tableBox.contains(document.activeElement) && document.activeElement instanceof HTMLElement ? document.activeElement.dataset.focusKey : undefined;
      tableBox.replaceChildren(h("table", { class: "grid tasks" }, h("thead", {}, h("tr", {}, h("th", { class: "check" }, everyone), shown.map(header))), h("tbody", {}, rows)));
      if (focusKey) /** @type {HTMLElement | null} */ (tableBox.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`))?.focus();
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

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let debounce;
  const refilter = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      for (const key of FILTERS) state.filters[key] = inputs[/** @type {keyof typeof inputs} */ (key)].value.trim();
      restart();
    }, 250);
  };
  for (const input of Object.values(inputs)) input.addEventListener(input.tagName === "SELECT" ? "change" : "input", refilter);
  metric.addEventListener("change", () => {
    const series = metric.value.trim();
    state.sort = series ? `metric:${series}` : "created";
    state.order = "";
    if (series && !state.columns.includes(state.sort)) state.columns.push(state.sort);
    restart();
  });
  limit.addEventListener("change", () => {
    state.limit = Number(limit.value);
    restart();
  });
  ctx.onCleanup(() => clearTimeout(debounce));
  ctx.every(4000, () => autoRefresh.checked && !pending && load());
  drawChooser();
  await load();
}
