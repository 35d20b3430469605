// @ts-check
// Clone: the parameters pre-filled, edited in place keeping their JSON types; with a
// queue the clone is enqueued at once, then the page moves to the new task.
import { get, post, seg } from "../api.js";
import { errorBox, h, setTitle, writes } from "../dom.js";
import { navigate } from "../router.js";
import { flatParams, parseAs, toText, typeOf } from "../params.js";
import { queueChoices, queueInput, suggestQueue } from "../queue_choice.js";

function paramField(path, value) {
  const type = typeOf(value);
  const input = type === "boolean"
    ? h("select", { name: path }, ["true", "false"].map((v) => h("option", { value: v, selected: String(value) === v }, v)))
    : h("input", { name: path, value: toText(value), spellcheck: false, inputmode: type === "number" ? "decimal" : null });
  const note = h("span", { class: "field-error" });
  const row = h("tr", { class: "param-row", dataset: { path } },
    h("td", {}, h("code", {}, path)),
    h("td", {}, input, note),
    h("td", { class: "muted type" }, type));
  return {
    row,
    /** The override for this field, undefined when unchanged; throws on a bad value. */
    read() {
      note.textContent = "";
      row.classList.remove("invalid");
      try {
        const parsed = parseAs(value, input.value);
        return JSON.stringify(parsed) === JSON.stringify(value) ? undefined : parsed;
      } catch (e) {
        note.textContent = e instanceof Error ? e.message : String(e);
        row.classList.add("invalid");
        throw e;
      }
    },
    mark() {
      let changed = false;
      try {
        changed = JSON.stringify(parseAs(value, input.value)) !== JSON.stringify(value);
      } catch {
        changed = true;
      }
      row.classList.toggle("changed", changed);
    },
  };
}

/**
 * @param {Record<string, string>} params from the route pattern
 * @param {Record<string, string>} _q the route's query
 * @param {HTMLElement} root
 */
export async function clonePage({ id }, _q, root) {
  const [task, choices] = await Promise.all([get(`/tasks/${seg(id)}`), queueChoices()]);
  setTitle(`Clone ${task.name}`);
  const fields = flatParams(task.params).map(([path, value]) => paramField(path, value));
  for (const f of fields) f.row.addEventListener("input", () => f.mark());
  const name = h("input", { name: "name", value: `${task.name} (clone)`, required: true, maxlength: 256 });
  const [queue, queueNames] = queueInput("queue-names", suggestQueue(task, choices), choices);
  const priority = h("input", { name: "priority", type: "number", value: "0", min: -1000, max: 1000 });
  const tags = h("input", { name: "tags", value: task.tags.join(", "), placeholder: "comma separated" });
  // A typed queue that does not exist is refused unless asked for: a typo would wait forever.
  const createQueue = h("input", { name: "create_queue", type: "checkbox", id: "clone-create-queue" });
  const flash = h("div");
  const submit = writes(h("button", { type: "submit", class: "primary", id: "clone-submit" }));
  const label = () => {
    submit.textContent = queue.value.trim() ? "Clone and enqueue" : "Clone as draft";
  };
  queue.addEventListener("input", label);
  label();

  const form = h("form", { class: "clone-form", id: "clone-form" },
    h("div", { class: "page-head" }, h("div", {},
      h("div", { class: "crumbs muted" }, "Clone of ", h("a", { href: `#/task/${task.id}` }, task.name)),
      h("h1", {}, "Clone task"))),
    flash,
    h("section", { class: "card" }, h("h2", {}, "Run"),
      h("div", { class: "form-grid" },
        h("label", {}, "Name", name),
        h("label", {}, "Queue", queue, queueNames),
        h("label", {}, "Priority", priority),
        h("label", {}, createQueue, " create the queue if it does not exist"),
        h("label", {}, "Tags", tags))),
    h("section", { class: "card" }, h("h2", {}, "Parameters"),
      fields.length
        ? h("table", { class: "grid params-edit" }, h("thead", {}, h("tr", {}, h("th", {}, "Parameter"), h("th", {}, "Value"), h("th", {}, "Type"))), h("tbody", {}, fields.map((f) => f.row)))
        : h("p", { class: "empty" }, "This task has no parameters.")),
    h("div", { class: "actions" }, h("a", { class: "button", href: `#/task/${task.id}` }, "Cancel"), submit));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    flash.replaceChildren();
    const overrides = {};
    let bad = 0;
    for (const f of fields) {
      try {
        const value = f.read();
        if (value !== undefined) overrides[f.row.dataset.path] = value;
      } catch {
        bad += 1;
      }
    }
    if (bad) {
      flash.replaceChildren(errorBox(new Error(`${bad} parameter${bad > 1 ? "s are" : " is"} not valid for its type.`)));
      return;
    }
    const body = {
      name: name.value.trim(),
      overrides,
      priority: Number(priority.value) || 0,
      tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      create_queue: createQueue.checked,
    };
    if (queue.value.trim()) body.queue = queue.value.trim();
    submit.disabled = true;
    try {
      const clone = await post(`/tasks/${seg(task.id)}/clone`, body);
      navigate(`/task/${clone.id}`);
    } catch (e) {
      flash.replaceChildren(errorBox(e));
      submit.disabled = false;
    }
  });
  root.append(form);
}
