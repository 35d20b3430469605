// @ts-check
// Small DOM and formatting helpers shared by every page.

/**
 * What h() and append() take as children: nodes, text, numbers, nested arrays; null,
 * undefined and false are skipped.
 * @typedef {Node | string | number | boolean | null | undefined | any[]} Child
 */

/**
 * Build an element: h("a", {href: "#/x", class: "btn"}, "text", child, ...).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any> | null} [attrs] attributes; on* functions become listeners,
 *   style an object of CSSOM properties
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style") {
      // Through the CSSOM: a style attribute would need 'unsafe-inline' under a CSP.
      Object.assign(el.style, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * A status badge; the class carries the colour.
 * @param {string} status
 */
export function badge(status, extra = "") {
  return h("span", { class: `badge status-${status} ${extra}`.trim() }, status);
}

/**
 * A status badge and, while its agent says one (e.g. "pending in Slurm: Resources"),
 * what the task is doing under that status.
 * @param {Record<string, any>} task a task record or summary: its status and state_detail
 */
export function statusBadge(task, extra = "") {
  const b = badge(task.status, extra);
  return task.state_detail ? [b, " ", h("span", { class: "muted state-detail" }, task.state_detail)] : b;
}

/**
 * @param {string} id
 * @param {Child} [text] shown instead of the id's first characters
 */
export function taskLink(id, text) {
  return h("a", { href: `#/task/${id}`, class: "task-link" }, text || id.slice(0, 8));
}

/**
 * A box with a heading, the building block of the detail pages.
 * @param {string | null} title
 * @param {...Child} body
 */
export function card(title, ...body) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...body);
}

/** @param {string} text */
export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** @param {unknown} error an Error (its message is shown) or anything else */
export function errorBox(error) {
  return h("div", { class: "error-box", role: "alert" }, String((error instanceof Error && error.message) || error));
}

/**
 * Seconds as "850 ms", "12.3 s", "4 min 05 s", "2 h 10 min".
 * @param {number | null | undefined} seconds
 * @returns {string}
 */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/**
 * "12 s ago" with the exact local time as a tooltip.
 * @param {string | null | undefined} iso
 */
export function ago(iso) {
  if (!iso) return h("span", { class: "muted" }, "–");
  const date = new Date(iso);
  const seconds = Math.max(0, (Date.now() - date.getTime()) / 1000);
  const text = seconds < 2 ? "just now" : `${duration(seconds).replace(/\.\d s$/, " s")} ago`;
  return h("time", { datetime: iso, title: date.toLocaleString() }, text);
}

/**
 * @param {string | null | undefined} iso
 * @returns {string}
 */
export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

/**
 * @param {number} n
 * @returns {string}
 */
export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/**
 * A JSON value as a short display string, keeping strings unquoted.
 * @param {unknown} value
 * @returns {string}
 */
export function show(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/**
 * A column of table(): its heading, and the row's value or its own cell.
 * @template R
 * @typedef {{label: string, value?: (row: R) => unknown, cell?: (row: R) => Child, class?: string, key?: string}} Column
 */

/**
 * A sortable, striped table from column specs: [{label, value(row), cell(row)?, sort?}].
 * @template R
 * @param {Column<R>[]} columns
 * @param {R[]} rows
 * @param {{className?: string, rowAttrs?: (row: R) => Record<string, any>}} [options]
 */
export function table(columns, rows, { className = "", rowAttrs } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class }, c.label))));
  const body = h(
    "tbody",
    {},
    rows.map((row) =>
      h(
        "tr",
        rowAttrs ? rowAttrs(row) : {},
        columns.map((c) => h("td", { class: c.class }, c.cell ? c.cell(row) : show(c.value?.(row)))),
      ),
    ),
  );
  return h("table", { class: `grid ${className}`.trim() }, head, body);
}

/**
 * Name the browser tab after what the page shows.
 * @param {string} [what]
 */
export function setTitle(what) {
  document.title = what ? `${what} · Runyard` : "Runyard";
}

/**
 * A button that asks for a second click (or Enter) before it acts, instead of a dialog.
 * @param {string} label
 * @param {string} question shown while armed
 * @param {() => Promise<void>} action
 * @param {string} [id] defaults to action-LABEL
 */
export function confirmButton(label, question, action, id = `action-${label.toLowerCase()}`) {
  const button = h("button", { type: "button", class: "danger", id }, label);
  /** @type {ReturnType<typeof setTimeout> | null} */
  let armed = null;
  button.addEventListener("click", async () => {
    if (!armed) {
      button.textContent = question;
      // Marked, so a page that redraws on a timer can wait until the question is answered.
      button.dataset.armed = "";
      armed = setTimeout(() => {
        button.textContent = label;
        delete button.dataset.armed;
        armed = null;
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    delete button.dataset.armed;
    button.disabled = true;
    await action();
    button.disabled = false;
    button.textContent = label;
  });
  return button;
}

/**
 * Mark a control that changes something: a viewer's page does not show it (the
 * stylesheet hides `.writes` under `body.read-only`, which session.js sets).
 * @template {HTMLElement} T
 * @param {T} el
 * @returns {T}
 */
export function writes(el) {
  el.classList.add("writes");
  return el;
}
