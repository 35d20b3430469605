// @ts-check
// Entry point: registers the pages, wires navigation and sign-out, renders the route.
import { clearToken, getToken } from "./auth.js";
import { errorBox } from "./dom.js";
import { render, route } from "./router.js";
import { auditPage } from "./pages/audit.js";
import { clonePage } from "./pages/clone.js";
import { comparePage } from "./pages/compare.js";
import { draftPage } from "./pages/draft.js";
import { projectsPage } from "./pages/projects.js";
import { queuesPage } from "./pages/queues.js";
import { taskPage } from "./pages/task.js";
import { tasksPage } from "./pages/tasks.js";
import { workersPage } from "./pages/workers.js";

route("/tasks", tasksPage, "tasks");
route("/task/:id", taskPage, "tasks");
route("/clone/:id", clonePage, "tasks");
route("/compare", comparePage, "tasks");
route("/draft/:id", draftPage, "tasks");
route("/projects", projectsPage, "projects");
route("/queues", queuesPage, "queues");
route("/queues/:name", queuesPage, "queues");
route("/workers", workersPage, "workers");
route("/audit", auditPage, "audit");

const root = /** @type {HTMLElement} */ (document.getElementById("app"));
const signOut = /** @type {HTMLButtonElement} */ (document.getElementById("sign-out"));

/** @param {string} section */
function markSection(section) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (!(link instanceof HTMLElement)) continue;
    link.classList.toggle("active", link.dataset.section === section);
  }
  signOut.hidden = !getToken();
}

async function show() {
  try {
    await render(root, markSection);
  } catch (error) {
    root.replaceChildren(errorBox(error));
  }
  signOut.hidden = !getToken();
}

signOut.addEventListener("click", () => {
  clearToken();
  show();
});
window.addEventListener("hashchange", show);
show();
