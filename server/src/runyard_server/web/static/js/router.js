// Hash routes (#/tasks, #/task/ID, ...): the server serves one page and needs no fallback.

const routes = [];

/** Register a page: pattern like "/task/:id"; render(params, query, container, ctx). */
export function route(pattern, render, section) {
  const names = [];
  const regex = new RegExp(
    "^" + pattern.replace(/:(\w+)/g, (_, name) => (names.push(name), "([^/]+)")) + "$",
  );
  routes.push({ regex, names, render, section });
}

/** The current hash as {path, query}. */
export function current() {
  const hash = location.hash.slice(1) || "/tasks";
  const [path, search = ""] = hash.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(search)) };
}

export function navigate(path, queryParams) {
  const search = queryParams ? new URLSearchParams(
    Object.entries(queryParams).filter(([, v]) => v !== "" && v !== undefined && v !== null),
  ).toString() : "";
  location.hash = search ? `${path}?${search}` : path;
}

/** Replace the query of the current route without adding a history entry or re-rendering. */
export function replaceQuery(queryParams) {
  const { path } = current();
  const search = new URLSearchParams(
    Object.entries(queryParams).filter(([, v]) => v !== "" && v !== undefined && v !== null),
  ).toString();
  history.replaceState(null, "", `#${search ? `${path}?${search}` : path}`);
}

/**
 * What a page gets besides its params: a container of its own (a page still loading
 * when the user moves on writes into a detached element, never the new page),
 * polling that stops when the page goes, and cleanups.
 */
class PageContext {
  constructor() {
    this.alive = true;
    this.cleanups = [];
  }

  onCleanup(fn) {
    this.cleanups.push(fn);
  }

  /** Call fn every ms milliseconds while the page is shown (not while the tab is hidden). */
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

let page = null;

export async function render(root, onSection) {
  if (page) page.close();
  const ctx = (page = new PageContext());
  const { path, query } = current();
  const container = document.createElement("div");
  container.className = "page";
  root.replaceChildren(container);
  const match = routes.map((r) => [r, r.regex.exec(path)]).find(([, m]) => m);
  if (!match) {
    container.textContent = `No page at ${path}.`;
    return;
  }
  const [r, m] = match;
  const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
  onSection(r.section);
  await r.render(params, query, container, ctx);
}
