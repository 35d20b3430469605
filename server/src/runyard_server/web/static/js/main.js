// @ts-check
// Entry point: registers the pages, wires navigation, sign-in and sign-out, renders the route.
import { SIGNED_IN, askForToken, clearToken } from "./auth.js";
import { errorBox } from "./dom.js";
import { render, route } from "./router.js";
import { refreshWho } from "./session.js";
import { auditPage } from "./pages/audit.js";
import { clonePage } from "./pages/clone.js";
import { comparePage } from "./pages/compare.js";
import { draftPage } from "./pages/draft.js";
import { pipelineRunPage } from "./pages/pipeline_run.js";
import { pipelinesPage } from "./pages/pipelines.js";
import { projectsPage } from "./pages/projects.js";
import { queuesPage } from "./pages/queues.js";
import { schedulesPage } from "./pages/schedules.js";
import { sweepPage } from "./pages/sweep.js";
import { sweepsPage } from "./pages/sweeps.js";
import { taskPage } from "./pages/task.js";
import { tasksPage } from "./pages/tasks.js";
import { webhooksPage } from "./pages/webhooks.js";
import { workersPage } from "./pages/workers.js";

route("/tasks", tasksPage, "tasks");
route("/task/:id", taskPage, "tasks");
route("/clone/:id", clonePage, "tasks");
route("/compare", comparePage, "tasks");
route("/draft/:id", draftPage, "tasks");
route("/projects", projectsPage, "projects");
route("/queues", queuesPage, "queues");
route("/queues/:name", queuesPage, "queues");
route("/sweeps", sweepsPage, "sweeps");
route("/sweep/:id", sweepPage, "sweeps");
route("/workers", workersPage, "workers");
route("/audit", auditPage, "audit");
route("/pipelines", pipelinesPage, "pipelines");
route("/pipeline-run/:id", pipelineRunPage, "pipelines");
route("/schedules", schedulesPage, "schedules");
route("/webhooks", webhooksPage, "webhooks");
route("/webhooks/:id", webhooksPage, "webhooks");

const root = /** @type {HTMLElement} */ (document.getElementById("app"));

/** @param {string} section */
function markSection(section) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (!(link instanceof HTMLElement)) continue;
    link.classList.toggle("active", link.dataset.section === section);
  }
}

async function show() {
  try {
    // Who first: a page drawn before the role is known would offer a viewer its controls.
    await refreshWho();
    await render(root, markSection);
  } catch (error) {
    root.replaceChildren(errorBox(error));
  }
}

/** @param {unknown} error */
const shown = (error) => root.replaceChildren(errorBox(error));

// A token given in the form (on a 401, on any page) may be someone else's: the role too.
document.addEventListener(SIGNED_IN, () => refreshWho().catch(shown));
/** @type {HTMLElement} */ (document.getElementById("sign-in")).addEventListener("click", () =>
  askForToken("Sign in with your user token.").catch(shown),
);
/** @type {HTMLElement} */ (document.getElementById("sign-out")).addEventListener("click", () => {
  clearToken();
  show();
});
window.addEventListener("hashchange", show);
show();
