// @ts-check
// Projects: each with its task count and newest runs; a name opens its runs table.
import { get } from "../api.js";
import { ago, badge, card, empty, errorBox, h, setTitle, taskLink } from "../dom.js";

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} _q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function projectsPage(_params, _q, root, ctx) {
  setTitle("Projects");
  const body = h("div", { class: "projects", id: "projects" });
  const flash = h("div");
  const summary = h("span", { class: "muted" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Projects"), summary), flash, body);

  async function load() {
    try {
      const projects = await get("/projects?latest=5");
      if (!ctx.alive) return;
      flash.replaceChildren();
      summary.textContent = `${projects.length} project${projects.length === 1 ? "" : "s"}`;
      body.replaceChildren(...(projects.length
        ? projects.map((/** @type {any} */ p) => h("section", { class: "card project", dataset: { project: p.name } },
          h("div", { class: "card-head" },
            h("h2", {}, h("a", { href: `#/tasks?project=${encodeURIComponent(p.name)}` }, p.name)),
            h("span", { class: "spacer" }),
            h("span", { class: "muted count" }, `${p.tasks} task${p.tasks === 1 ? "" : "s"}`)),
          h("ul", { class: "plain latest" }, p.latest.map((/** @type {any} */ t) => h("li", {}, badge(t.status), " ", taskLink(t.id, t.name), " ", h("span", { class: "muted" }, ago(t.created)))))))
        : [card(null, empty("No tasks yet: every task belongs to a project (\"default\" unless named)."))]));
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  ctx.every(10_000, load);
  await load();
}
