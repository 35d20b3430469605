// @ts-check
// Edit a draft before it runs: name, tags, parameters (JSON), code (repository, commit,
// branch, entry point, args), requirements and resources (the typed GPU fields and nodes
// in a section closed by default, so the form keeps its height); save, save and enqueue,
// or delete it. PATCH /tasks/ID refuses once the task is no longer a draft.
import { del, get, patch, post, seg } from "../api.js";
import { confirmButton, errorBox, h, setTitle, writes } from "../dom.js";
import { navigate } from "../router.js";
import { queueChoices, queueInput, suggestQueue } from "../queue_choice.js";

/** @param {string} text one item a line; blank lines left out */
const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);

/**
 * @param {string} label
 * @param {HTMLElement} input
 * @param {string} [hint]
 */
const field = (label, input, hint) => h("label", {}, label, input, hint ? h("span", { class: "hint" }, hint) : null);

/**
 * @param {Record<string, string>} params from the route pattern
 * @param {Record<string, string>} _q the route's query
 * @param {HTMLElement} root
 */
export async function draftPage({ id }, _q, root) {
  const [task, choices] = await Promise.all([get(`/tasks/${seg(id)}`), queueChoices()]);
  setTitle(`Edit ${task.name}`);
  if (task.status !== "draft") {
    root.append(errorBox(new Error(`${task.name} is ${task.status}: only a draft can be edited. Clone it to run it again with changes.`)),
      h("a", { class: "button", href: `#/task/${task.id}` }, "Back to the task"));
    return;
  }
  const s = task.script;
  const e = task.environment;
  const r = task.resources;
  const f = {
    name: h("input", { name: "name", value: task.name, required: true, maxlength: 256 }),
    project: h("input", { name: "project", value: task.project, required: true }),
    tags: h("input", { name: "tags", value: task.tags.join(", "), placeholder: "comma separated" }),
    comment: h("textarea", { name: "comment", rows: 2 }, task.comment),
    params: h("textarea", { name: "params", rows: 8, class: "mono", spellcheck: false }, JSON.stringify(task.params, null, 2)),
    repository: h("input", { name: "repository", value: s.repository, class: "mono" }),
    commit: h("input", { name: "commit", value: s.commit || "", class: "mono", maxlength: 64 }),
    branch: h("input", { name: "branch", value: s.branch || "", class: "mono" }),
    entry: h("input", { name: "entry_point", value: s.entry_point, class: "mono" }),
    args: h("textarea", { name: "args", rows: 3, class: "mono", spellcheck: false }, s.args.join("\n")),
    requirements: h("textarea", { name: "requirements", rows: 6, class: "mono", spellcheck: false }, e.requirements.join("\n")),
    gpus: h("input", { name: "gpus", type: "number", min: 0, step: "any", value: r.gpus, title: "whole GPUs, or a share of one: 0.5, 0.25, 0.125" }),
    gpuModel: h("input", { name: "gpu_model", value: r.gpu_model || "", class: "mono", maxlength: 64, placeholder: "any, or a glob: A100*" }),
    gpuMemory: h("input", { name: "gpu_memory_gb", type: "number", min: 0, step: "any", value: r.gpu_memory_gb || 0 }),
    interconnect: h("select", { name: "gpu_interconnect" },
      ["any", "nvlink"].map((v) => h("option", { value: v, selected: (r.gpu_interconnect || "any") === v }, v))),
    nodes: h("input", { name: "nodes", type: "number", min: 1, step: 1, value: r.nodes || 1 }),
    cpus: h("input", { name: "cpus", type: "number", min: 0, step: "any", value: r.cpus }),
    memory: h("input", { name: "memory_gb", type: "number", min: 0, step: "any", value: r.memory_gb }),
  };
  const [queue, queueNames] = queueInput("draft-queues", suggestQueue(task, choices), choices);
  const createQueue = h("input", { name: "create_queue", type: "checkbox" });
  const flash = h("div", { id: "draft-flash" });

  /** The PATCH body from the form; throws with what to fix. */
  function changes() {
    let params;
    try {
      params = JSON.parse(f.params.value || "{}");
    } catch (error) {
      throw new Error(`Parameters are not valid JSON: ${error instanceof Error ? error.message : error}`);
    }
    if (!params || typeof params !== "object" || Array.isArray(params)) throw new Error('Parameters must be an object of sections, e.g. {"General": {"lr": 0.1}}');
    return {
      name: f.name.value.trim(),
      project: f.project.value.trim(),
      tags: f.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      comment: f.comment.value,
      params,
      script: { ...s, repository: f.repository.value.trim(), commit: f.commit.value.trim() || null, branch: f.branch.value.trim() || null, entry_point: f.entry.value.trim(), args: lines(f.args.value) },
      environment: { ...e, requirements: lines(f.requirements.value) },
      resources: {
        ...r,
        gpus: Number(f.gpus.value) || 0,
        cpus: Number(f.cpus.value) || 0,
        memory_gb: Number(f.memory.value) || 0,
        gpu_model: f.gpuModel.value.trim() || null,
        gpu_memory_gb: Number(f.gpuMemory.value) || 0,
        gpu_interconnect: f.interconnect.value,
        nodes: Number(f.nodes.value) || 1,
      },
    };
  }

  /** @param {() => Promise<void>} action */
  const guarded = async (action) => {
    flash.replaceChildren();
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    try {
      await action();
    } catch (error) {
      flash.replaceChildren(errorBox(error));
      for (const b of form.querySelectorAll("button")) b.disabled = false;
    }
  };
  const save = () => guarded(async () => {
    await patch(`/tasks/${seg(task.id)}`, changes());
    navigate(`/task/${task.id}`);
  });
  const saveAndEnqueue = () => guarded(async () => {
    if (!queue.value.trim()) throw new Error("Name a queue to enqueue the draft on.");
    await patch(`/tasks/${seg(task.id)}`, changes());
    await post(`/tasks/${seg(task.id)}/enqueue`, { queue: queue.value.trim(), create_queue: createQueue.checked });
    navigate(`/task/${task.id}`);
  });
  const remove = confirmButton("Delete draft", "Really delete?", () => guarded(async () => {
    await del(`/tasks/${seg(task.id)}`);
    navigate("/tasks");
  }), "draft-delete");
  writes(remove);

  const form = h("form", { class: "clone-form draft-form", id: "draft-form", onsubmit: (/** @type {Event} */ ev) => {
    ev.preventDefault();
    save();
  } },
    h("div", { class: "page-head" }, h("div", {},
      h("div", { class: "crumbs muted" }, "Draft ", h("a", { href: `#/task/${task.id}` }, task.name)),
      h("h1", {}, "Edit draft"))),
    flash,
    h("section", { class: "card" }, h("h2", {}, "Task"), h("div", { class: "form-grid" },
      field("Name", f.name), field("Project", f.project), field("Tags", f.tags), field("Comment", f.comment))),
    h("section", { class: "card" }, h("h2", {}, "Parameters"), field("Sections as JSON", f.params, 'e.g. {"General": {"lr": 0.1, "epochs": 3}}')),
    h("section", { class: "card" }, h("h2", {}, "Code"), h("div", { class: "form-grid" },
      field("Repository", f.repository), field("Commit", f.commit), field("Branch", f.branch), field("Entry point", f.entry)),
      field("Arguments", f.args, "one a line"),
      s.diff ? h("p", { class: "muted" }, `The recorded uncommitted diff (${s.diff.length} characters) is kept.`) : null),
    h("section", { class: "card" }, h("h2", {}, "Environment and resources"),
      field("Requirements", f.requirements, "one package specifier a line"),
      // The typed GPU fields sit closed in the row's free fourth cell, so the form is as
      // tall as without them until opened (a taller form moved the buttons under a click);
      // open from the start when the draft asks for any of them.
      h("div", { class: "form-grid" }, field("GPUs", f.gpus), field("CPUs", f.cpus), field("Memory (GB)", f.memory),
        h("details", { id: "draft-gpu-type", class: "grid-more", open: Boolean(r.gpu_model || r.gpu_memory_gb || (r.nodes || 1) > 1 || (r.gpu_interconnect || "any") !== "any") },
          h("summary", {}, "GPU type and nodes"),
          h("div", { class: "form-grid" },
            field("GPU model", f.gpuModel, "a glob on the name, any case"),
            field("GPU memory (GB each)", f.gpuMemory, "at least; NVML reports 79.6 for an 80 GB H100"),
            field("Interconnect", f.interconnect, "nvlink: all GPUs peers"),
            field("Nodes", f.nodes, "agents it runs on at once"))))),
    h("section", { class: "card" }, h("h2", {}, "Run it"), h("div", { class: "form-grid" },
      field("Queue", queue), h("label", { class: "inline" }, createQueue, " create the queue if it does not exist")), queueNames),
    h("div", { class: "actions" },
      remove,
      h("span", { class: "spacer" }),
      h("a", { class: "button", href: `#/task/${task.id}` }, "Cancel"),
      writes(h("button", { type: "submit", id: "draft-save" }, "Save")),
      writes(h("button", { type: "button", class: "primary", id: "draft-enqueue", onclick: saveAndEnqueue }, "Save and enqueue"))));
  root.append(form);
}
