// @ts-check
// The console tab: the task's last lines first, earlier pages on demand, then followed
// live through server-sent events from where the tail ended.
import { downloadLog, get, query, seg, streamLogs } from "../api.js";
import { ansiNodes } from "../ansi.js";
import { h } from "../dom.js";

const MAX_LINES = 20_000;
const PAGE = 1000;

/** @param {import("../api.js").LogLine} line */
function lineEl(line) {
  const time = new Date(line.ts * 1000).toLocaleTimeString();
  return h("div", { class: `line ${line.stream}` }, h("span", { class: "ts" }, time), h("span", { class: "text" }, ansiNodes(line.text)));
}

/**
 * Search within the lines shown: matches marked, Enter and Shift+Enter step through
 * them, "only matches" hides the rest. Returns the controls and a rerun for new lines.
 * @param {HTMLElement} pre
 */
function logSearch(pre) {
  const input = h("input", { type: "search", name: "log-search", placeholder: "search the log…", "aria-label": "search the log" });
  const only = h("input", { type: "checkbox", name: "log-only-matches" });
  const count = h("span", { class: "muted search-count", "aria-live": "polite" });
  /** @type {HTMLElement[]} */
  let matches = [];
  let at = -1;
  function run() {
    const needle = input.value.toLowerCase();
    matches = [];
    for (const line of /** @type {HTMLCollectionOf<HTMLElement>} */ (pre.children)) {
      const text = line.querySelector(".text")?.textContent?.toLowerCase() ?? "";
      const hit = Boolean(needle) && text.includes(needle);
      line.classList.toggle("match", hit);
      line.classList.toggle("match-current", false);
      line.classList.toggle("filtered-out", Boolean(needle) && only.checked && !hit && !line.classList.contains("end"));
      if (hit) matches.push(line);
    }
    at = Math.min(at, matches.length - 1);
    count.textContent = needle ? `${matches.length} matching line${matches.length === 1 ? "" : "s"}` : "";
  }
  /** @param {number} by */
  function step(by) {
    if (!matches.length) return;
    matches[at]?.classList.remove("match-current");
    at = (at + by + matches.length) % matches.length;
    matches[at].classList.add("match-current");
    matches[at].scrollIntoView({ block: "center" });
    count.textContent = `${at + 1} of ${matches.length} matching lines`;
  }
  input.addEventListener("input", () => {
    at = -1;
    run();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    step(event.shiftKey ? -1 : 1);
  });
  only.addEventListener("change", run);
  const el = h("div", { class: "log-search" }, input, h("label", { class: "inline muted" }, only, " only matches"), count);
  return { el, run: () => input.value && run() };
}

/**
 * A console panel that opens on the task's tail and follows it; returns {el, stop}.
 * @param {string} taskId
 * @param {{onEnd?: (reason: string) => void, status?: () => string}} [options] status: the
 *   task's status now; a draft or queued task is "waiting", not "live", while connected
 * @returns {{el: HTMLElement, stop: () => void, showState: () => void}}
 */
export function consolePanel(taskId, { onEnd, status = () => "running" } = {}) {
  const state = h("span", { class: "live-state muted" }, "connecting…");
  const follow = h("input", { type: "checkbox", checked: true });
  const pre = h("pre", { class: "console", id: "console", tabindex: "0" });
  const earlier = h("button", { type: "button", class: "link earlier", hidden: true }, "earlier lines");
  const saveAll = h("button", { type: "button", class: "link", title: "the whole log as plain text" }, "download");
  let count = 0;
  let before = null; // the cursor of the first line shown, while earlier ones exist
  let stopStream = () => {};
  let stopped = false;
  let connection = "connecting…";
  let ended = false;
  const search = logSearch(pre);

  const atBottom = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  function showEarlier(cursor) {
    before = cursor;
    earlier.hidden = !cursor;
  }
  function addLines(lines) {
    const stick = follow.checked && atBottom();
    const frag = document.createDocumentFragment();
    for (const line of lines) frag.append(lineEl(line));
    pre.append(frag);
    count += lines.length;
    // Keep the page light on endless logs; the API (and the download) still has every line.
    if (count > MAX_LINES) {
      while (count > MAX_LINES) {
        pre.firstChild?.remove();
        count -= 1;
      }
      showEarlier(null);
    }
    search.run();
    if (stick || follow.checked) pre.scrollTop = pre.scrollHeight;
  }
  function showState() {
    if (ended) return;
    const waiting = ["draft", "queued"].includes(status());
    const live = connection === "live";
    state.textContent = live ? (waiting ? `connected, the task is ${status()}` : "● live") : connection;
    state.className = `live-state ${live && !waiting ? "ok" : "muted"}`;
  }
  async function loadEarlier() {
    if (!before || count + PAGE > MAX_LINES) return showEarlier(null);
    earlier.disabled = true;
    const page = await get(`/tasks/${seg(taskId)}/logs${query({ before, limit: PAGE })}`);
    const height = pre.scrollHeight;
    const frag = document.createDocumentFragment();
    for (const line of page.lines) frag.append(lineEl(line));
    pre.prepend(frag);
    count += page.lines.length;
    pre.scrollTop += pre.scrollHeight - height; // keep the lines in view where they were
    earlier.disabled = false;
    showEarlier(page.before);
  }
  earlier.addEventListener("click", () => loadEarlier());
  saveAll.addEventListener("click", () => downloadLog(taskId));

  async function start() {
    // A 1M-line log opens at once: its last page first, followed from that page's cursor.
    const tail = await get(`/tasks/${seg(taskId)}/logs${query({ tail: PAGE })}`);
    if (stopped) return;
    addLines(tail.lines);
    showEarlier(tail.before);
    stopStream = streamLogs(taskId, {
      after: tail.cursor,
      onLines: addLines,
      onState: (s) => {
        connection = s;
        showState();
      },
      onEnd: (status) => {
        ended = true;
        state.textContent = `ended (${status})`;
        state.className = "live-state muted";
        pre.append(h("div", { class: "line end" }, `— the task is ${status} —`));
        if (onEnd) onEnd(status);
      },
    });
  }
  start().catch((error) => {
    state.textContent = `error: ${error.message}`;
  });
  const el = h(
    "section",
    { class: "card console-card" },
    h(
      "div",
      { class: "card-head" },
      h("h2", {}, "Console"),
      state,
      h("span", { class: "spacer" }),
      earlier,
      saveAll,
      h("label", { class: "inline muted" }, follow, " follow"),
    ),
    search.el,
    pre,
  );
  const stop = () => {
    stopped = true;
    stopStream();
  };
  return { el, stop, showState };
}
