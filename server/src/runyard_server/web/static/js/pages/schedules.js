// @ts-check
// Schedules and triggers: what the queue starts on its own. Each schedule with its cron,
// time zone and next run times (in that zone, the local time as a tooltip), its last run,
// and pause, resume and delete for whoever may change it; each trigger with what it
// watches and what it starts.
import { del, get, post, seg } from "../api.js";
import { ago, badge, card, confirmButton, empty, errorBox, h, setTitle, table, taskLink, writes } from "../dom.js";
import { quietRedraw } from "../redraw.js";

/**
 * A time as the schedule's zone reads it; a zone this browser does not know shows UTC.
 * @param {string} iso
 * @param {string} tz an IANA zone name
 */
function inZone(iso, tz) {
  const date = new Date(iso);
  /** @type {Intl.DateTimeFormatOptions} */
  const style = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  let text;
  try {
    text = new Intl.DateTimeFormat(undefined, { ...style, timeZone: tz }).format(date);
  } catch {
    text = `${new Intl.DateTimeFormat(undefined, { ...style, timeZone: "UTC" }).format(date)} UTC`;
  }
  return h("time", { datetime: iso, title: `${date.toLocaleString()} here` }, text);
}

/** @param {any} s a Schedule */
function nextRuns(s) {
  if (s.paused) return h("span", { class: "muted" }, "paused");
  if (!s.next_runs.length) return h("span", { class: "muted" }, "–");
  return h("ul", { class: "plain next-runs" }, s.next_runs.map((/** @type {string} */ t) => h("li", {}, inZone(t, s.tz))));
}

/** Pipeline names by id, for the targets that run one. @type {Map<string, string>} */
const pipelineNames = new Map();

/**
 * What a schedule or trigger starts: a clone of a task (and the queue it goes to), or a
 * run of a pipeline.
 * @param {any} target a Schedule or Trigger
 */
function startsWhat(target) {
  if (target.pipeline) {
    const name = pipelineNames.get(target.pipeline) || target.pipeline.slice(0, 8);
    return h("a", { href: `#/pipelines?pipeline=${encodeURIComponent(target.pipeline)}`, class: "pipeline-target" }, `pipeline ${name}`);
  }
  return [taskLink(target.task), h("span", { class: "muted" }, ` → ${target.queue}`)];
}

/**
 * When it last started something and what (a task, or a pipeline run), or why it could not.
 * @param {any} item a Schedule or Trigger
 * @param {string | null} at when it last ran or fired
 */
function lastStarted(item, at) {
  const made = item.last_task
    ? [ago(at), " ", item.pipeline ? h("a", { href: `#/pipeline-run/${item.last_task}`, class: "run-link" }, item.last_task.slice(0, 8)) : taskLink(item.last_task)]
    : [h("span", { class: "muted" }, at ? ago(at) : "never")];
  return [...made, item.last_error ? h("div", { class: "last-error" }, item.last_error) : null];
}

/**
 * @param {any} item a Schedule or Trigger
 * @returns {HTMLElement}
 */
const pausedBadge = (item) => (item.paused ? h("span", { class: "badge status-draft" }, "paused") : h("span", { class: "badge status-running" }, "active"));

/** @param {any} t a Trigger: "failed or aborted in project P with tag T, when val/acc >= 0.9" */
function watches(t) {
  const where = [t.watch_project ? `project ${t.watch_project}` : null, t.watch_tag ? `tag ${t.watch_tag}` : null].filter(Boolean).join(", ") || "every task";
  const metric = t.metric ? h("div", { class: "muted" }, `when ${t.metric} ${t.op} ${t.threshold}`) : null;
  return [h("div", {}, `${t.statuses.join(" or ")} · ${where}`), metric];
}

/**
 * @param {Record<string, string>} _params from the route pattern
 * @param {Record<string, string>} _q the route's query
 * @param {HTMLElement} root
 * @param {import("../router.js").PageContext} ctx
 */
export async function schedulesPage(_params, _q, root, ctx) {
  setTitle("Schedules");
  const flash = h("div");
  const schedules = h("div", { id: "schedules" });
  const triggers = h("div", { id: "triggers" });
  const summary = h("span", { class: "muted" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Schedules"), summary), flash, h("div", { class: "stack" }, schedules, triggers));
  const drawSchedules = quietRedraw(schedules);
  const drawTriggers = quietRedraw(triggers);

  /** @param {() => Promise<unknown>} fn */
  async function act(fn) {
    try {
      await fn();
      flash.replaceChildren();
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
    await load();
  }

  /**
   * Pause or resume, and delete: the buttons of one schedule or trigger.
   * @param {string} kind "schedules" | "triggers"
   * @param {any} item
   */
  const controls = (kind, item) => writes(h("span", { class: "row-actions" },
    item.paused
      ? h("button", { class: "small", dataset: { action: "resume" }, onclick: () => act(() => post(`/${kind}/${seg(item.id)}/resume`)) }, "Resume")
      : h("button", { class: "small", dataset: { action: "pause" }, onclick: () => act(() => post(`/${kind}/${seg(item.id)}/pause`)) }, "Pause"),
    confirmButton("Delete", "Really delete?", () => act(() => del(`/${kind}/${seg(item.id)}`)), `delete-${item.id}`)));

  /** @type {import("../dom.js").Column<any>[]} */
  const scheduleColumns = [
    { label: "Schedule", cell: (s) => [h("strong", {}, s.name || s.id.slice(0, 8)), h("div", { class: "muted" }, s.project)] },
    { label: "Cron", cell: (s) => [h("code", { class: "cron" }, s.cron), h("div", { class: "muted tz" }, s.tz)] },
    { label: "Next runs", cell: nextRuns },
    { label: "Starts", cell: startsWhat },
    { label: "Last run", cell: (s) => lastStarted(s, s.last_run) },
    { label: "Runs", value: (s) => s.runs, class: "num" },
    { label: "Missed runs", value: (s) => s.catch_up },
    { label: "State", cell: pausedBadge },
    { label: "", cell: (s) => controls("schedules", s) },
  ];

  /** @type {import("../dom.js").Column<any>[]} */
  const triggerColumns = [
    { label: "Trigger", cell: (t) => [h("strong", {}, t.name || t.id.slice(0, 8)), h("div", { class: "muted" }, t.project)] },
    { label: "When a task ends", cell: watches },
    { label: "Starts", cell: startsWhat },
    { label: "Last fired", cell: (t) => lastStarted(t, t.last_fired) },
    { label: "Fired", value: (t) => t.fired, class: "num" },
    { label: "State", cell: pausedBadge },
    { label: "", cell: (t) => controls("triggers", t) },
  ];

  async function load() {
    try {
      /** @type {[any[], any[]]} */
      const [scheduleList, triggerList] = await Promise.all([get("/schedules"), get("/triggers")]);
      /** @type {string[]} */
      const unnamed = [...scheduleList, ...triggerList].map((x) => x.pipeline).filter((id) => id && !pipelineNames.has(id));
      if (unnamed.length) {
        for (const p of (await get("/pipelines")).items) pipelineNames.set(p.id, p.name);
        // One look per pipeline: one not listed (deleted, or past the first page) keeps its id.
        for (const id of unnamed) if (!pipelineNames.has(id)) pipelineNames.set(id, id.slice(0, 8));
      }
      if (!ctx.alive) return;
      summary.textContent = `${scheduleList.length} schedule${scheduleList.length === 1 ? "" : "s"}, ${triggerList.length} trigger${triggerList.length === 1 ? "" : "s"}`;
      drawSchedules.show(scheduleList, () => schedules.replaceChildren(card("Schedules", scheduleList.length
        ? table(scheduleColumns, scheduleList, { className: "schedules", rowAttrs: (s) => ({ dataset: { schedule: s.id } }) })
        : empty("No schedules: `runyard schedule create TASK_ID --cron '0 3 * * *' --queue Q` makes one."))));
      drawTriggers.show(triggerList, () => triggers.replaceChildren(card("Triggers", triggerList.length
        ? table(triggerColumns, triggerList, { className: "triggers", rowAttrs: (t) => ({ dataset: { trigger: t.id } }) })
        : empty("No triggers: `runyard trigger create` starts a task when another ends a certain way."))));
    } catch (e) {
      flash.replaceChildren(errorBox(e));
    }
  }
  ctx.every(3000, load);
  await load();
}
