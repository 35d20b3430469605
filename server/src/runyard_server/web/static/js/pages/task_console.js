// @ts-check
// The console tab: the task's last lines first, earlier pages on demand, then followed
// live through server-sent events from where the tail ended.
import { downloadLog, get, query, seg, streamLogs } from "../api.js";
import { h } from "../dom.js";

const MAX_LINES = 20_000;
const PAGE = 1000;

/** @param {import("../api.js").LogLine} line */
function lineEl(line) {
  const time = new Date(line.ts * 1000).toLocaleTimeString();
  return h("div", { class: `line ${line.stream}` }, h("span", { class: "ts" }, time), line.text);
}

/**
 * A console panel that opens on the task's tail and follows it; returns {el, stop}.
 * @param {string} taskId
 * @param {{onEnd?: (reason: string) => void}} [options]
 * @returns {{el: HTMLElement, stop: () => void}}
 */
export function consolePanel(taskId, { onEnd } = {}) {
  const state = h("span", { class: "live-state muted" }, "connecting…");
  const follow = h("input", { type: "checkbox", checked: true });
  const pre = h("pre", { class: "console", id: "console", tabindex: "0" });
  const earlier = h("button", { type: "button", class: "link earlier", hidden: true }, "earlier lines");
  const saveAll = h("button", { type: "button", class: "link" }, "download");
  let count = 0;
  let before = null; // the cursor of the first line shown, while earlier ones exist
  let stopStream = () => {};
  let stopped = false;

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
    if (stick || follow.checked) pre.scrollTop = pre.scrollHeight;
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
        state.textContent = s === "live" ? "● live" : s;
        state.className = `live-state ${s === "live" ? "ok" : "muted"}`;
      },
      onEnd: (status) => {
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
    pre,
  );
  const stop = () => {
    stopped = true;
    stopStream();
  };
  return { el, stop };
}
