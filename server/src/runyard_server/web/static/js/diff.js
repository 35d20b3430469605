// @ts-check
// A git diff as coloured lines: files, hunks, additions and deletions.
import { h } from "./dom.js";

/** @param {string} line */
function kind(line) {
  if (line.startsWith("diff --git")) return "file";
  if (line.startsWith("+++") || line.startsWith("---")) return "meta";
  if (line.startsWith("index ") || line.startsWith("new file") || line.startsWith("deleted file")) return "meta";
  if (line.startsWith("GIT binary patch") || line.startsWith("Binary files")) return "meta";
  if (line.startsWith("@@")) return "hunk";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  return "ctx";
}

/**
 * The diff as a <pre> of one <span> per line, classed by what the line is.
 * @param {string} text
 */
export function diffView(text) {
  const lines = text.replace(/\n$/, "").split("\n");
  return h("pre", { class: "diff" }, lines.map((line) => h("span", { class: `d-${kind(line)}` }, line + "\n")));
}

/**
 * Files the diff touches, with +added/-deleted counts.
 * @param {string} text
 * @returns {{name: string, added: number, deleted: number}[]}
 */
export function diffStats(text) {
  /** @type {{name: string, added: number, deleted: number}[]} */
  const files = [];
  /** @type {{name: string, added: number, deleted: number} | null} */
  let current = null;
  for (const line of text.split("\n")) {
    if (line.startsWith("diff --git")) {
      current = { name: line.split(" b/").pop() || line, added: 0, deleted: 0 };
      files.push(current);
    } else if (current && line.startsWith("+") && !line.startsWith("+++")) current.added += 1;
    else if (current && line.startsWith("-") && !line.startsWith("---")) current.deleted += 1;
  }
  return files;
}
