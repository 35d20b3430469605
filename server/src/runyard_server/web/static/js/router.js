// @ts-check
// Hash routes (#/tasks, #/task/ID, ...): the server serves one page and needs no fallback.
import { searchString } from "./query.js";

/**
 * A page: renders into its container; the context polls and cleans up.
 * @typedef {(params: Record<string, string>, query: Record<string, string>, root: HTMLElement, ctx: PageContext) => Promise<void>} Page
 */

/** @type {{regex: RegExp, names: string[], render: Page, section: string}[]} */
const routes = [];

/**
 * Register a page: pattern like "/task/:id"; render(params, query, container, ctx).
 * @param {string} pattern
 * @param {Page} render
 * @param {string} section the nav link it belongs to
 */
export function route(pattern, render, section) {
  /** @type {string[]} */
  const names = [];
  const regex = new RegExp(
    "^" + pattern.replace(/:(\w+)/g, (_, name) => (names.push(name), "([^/]+)")) + "$",
  );
  routes.push({ regex, names, render, section });
}

/**
 * The current hash as {path, query}.
 * @returns {{path: string, query: Record<string, string>}}
 */
export function current() {
  const hash = location.hash.slice(1) || "/tasks";
  const [path, search = ""] = hash.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(search)) };
}

/**
 * @param {string} path
 * @param {Record<string, unknown>} [queryParams] empty values are left out
 */
export function navigate(path, queryParams) {
  const search = queryParams ? searchString(queryParams) : "";
  location.hash = search ? `${path}?${search}` : path;
}

/**
 * Replace the query of the current route without adding a history entry or re-rendering.
 * @param {Record<string, unknown>} queryParams
 */
export function replaceQuery(queryParams) {
  const { path } = current();
  const search = searchString(queryParams);
  history.replaceState(null, "", `#${search ? `${path}?${search}` : path}`);
}

/**
 * What a page gets besides its params: a container of its own (a page still loading
 * when the user moves on writes into a detached element, never the new page),
 * polling that stops when the page goes, and cleanups.
 */
export class PageContext {
  constructor() {
    this.alive = true;
    /** @type {(() => void)[]} */
    this.cleanups = [];
  }

  /** @param {() => void} fn */
  onCleanup(fn) {
    this.cleanups.push(fn);
  }

  /**
   * Call fn every ms milliseconds while the page is shown (not while the tab is hidden).
   * @param {number} ms
   * @param {() => unknown} fn
   */
  every(ms, fn) {
    const id = setInterval(() => {
      if (!document.hidden) fn();
    }, ms);
    this.onCleanup(() => clearInterval(id));
  }

  close() {
    this.alive = false;
    for (const fn of this.cleanups) fn();
  }
}

/** @type {PageContext | null} */
let page = null;

/**
 * Render the current route's page into root.
 * @param {HTMLElement} root
 * @param {(section: string) => void} onSection
 */
export async function render(root, onSection) {
  if (page) page.close();
  const ctx = (page = new PageContext());
  const { path, query } = current();
  document.title = "Runyard"; // until the page names itself: never the last page's name
  const container = document.createElement("div");
  container.className = "page";
  root.replaceChildren(container);
  const r = routes.find((candidate) => candidate.regex.test(path));
  const m = r && r.regex.exec(path);
  if (!r || !m) {
    container.textContent = `No page at ${path}.`;
    return;
  }
  const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
  onSection(r.section);
  await r.render(params, query, container, ctx);
}
