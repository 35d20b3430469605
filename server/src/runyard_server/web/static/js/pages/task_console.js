// @ts-check
// The console tab: the task's output, followed live through server-sent events.
import { streamLogs } from "../api.js";
import { h } from "../dom.js";

const MAX_LINES = 20_000;

/**
 * A console panel that follows the task from its first line; returns {el, stop}.
 * @param {string} taskId
 * @param {{onEnd?: (reason: string) => void}} [options]
 * @returns {{el: HTMLElement, stop: () => void}}
 */
export function consolePanel(taskId, { onEnd } = {}) {
  const state = h("span", { class: "live-state muted" }, "connecting…");
  const follow = h("input", { type: "checkbox", checked: true });
  const pre = h("pre", { class: "console", id: "console", tabindex: "0" });
  let count = 0;

  const atBottom = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  function addLines(lines) {
    const stick = follow.checked && atBottom();
    const frag = document.createDocumentFragment();
    for (const line of lines) {
      const time = new Date(line.ts * 1000).toLocaleTimeString();
      frag.append(h("div", { class: `line ${line.stream}` }, h("span", { class: "ts" }, time), line.text));
    }
    pre.append(frag);
    count += lines.length;
    // Keep the page light on endless logs; the API still has every line.
    while (count > MAX_LINES) {
      pre.firstChild?.remove();
      count -= 1;
    }
    if (stick || follow.checked) pre.scrollTop = pre.scrollHeight;
  }

  const stop = streamLogs(taskId, {
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
  const el = h(
    "section",
    { class: "card console-card" },
    h("div", { class: "card-head" }, h("h2", {}, "Console"), state, h("span", { class: "spacer" }), h("label", { class: "inline muted" }, follow, " follow")),
    pre,
  );
  return { el, stop };
}
