// @ts-check
// ANSI escape sequences in console lines: SGR colours and styles become classed spans
// (or a CSSOM colour for 256-colour and true-colour codes); every other control
// sequence (cursor moves, erase line) is dropped. Text is only ever set as text.
import { h } from "./dom.js";

const CSI = /\x1b\[([0-9;?]*)([A-Za-z])/g;

/** @typedef {{fg: string | null, bg: string | null, bold: boolean, dim: boolean, italic: boolean, underline: boolean}} Style */

/** @returns {Style} */
const plain = () => ({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false });

/**
 * The colour of a 256-colour code: a class for the 16 named ones, else "rgb(...)".
 * @param {number} n
 * @returns {string}
 */
function color256(n) {
  if (n < 16) return `c${n}`;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const level = (/** @type {number} */ c) => (c ? 55 + c * 40 : 0);
  return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
}

/**
 * Apply one SGR parameter list to a style.
 * @param {Style} style
 * @param {number[]} codes
 */
function apply(style, codes) {
  for (let i = 0; i < codes.length; i += 1) {
    const c = codes[i];
    if (c === 0) Object.assign(style, plain());
    else if (c === 1) style.bold = true;
    else if (c === 2) style.dim = true;
    else if (c === 3) style.italic = true;
    else if (c === 4) style.underline = true;
    else if (c === 22) style.bold = style.dim = false;
    else if (c === 23) style.italic = false;
    else if (c === 24) style.underline = false;
    else if (c >= 30 && c <= 37) style.fg = `c${c - 30}`;
    else if (c >= 90 && c <= 97) style.fg = `c${c - 90 + 8}`;
    else if (c === 39) style.fg = null;
    else if (c >= 40 && c <= 47) style.bg = `c${c - 40}`;
    else if (c >= 100 && c <= 107) style.bg = `c${c - 100 + 8}`;
    else if (c === 49) style.bg = null;
    else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
      const value = color256(codes[i + 2] ?? 0);
      if (c === 38) style.fg = value;
      else style.bg = value;
      i += 2;
    } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
      const [r, g, b] = codes.slice(i + 2, i + 5).map((v) => Math.min(255, v || 0));
      if (c === 38) style.fg = `rgb(${r},${g},${b})`;
      else style.bg = `rgb(${r},${g},${b})`;
      i += 4;
    }
  }
}

/**
 * @param {Style} style
 * @param {string} text
 * @returns {Node}
 */
function piece(style, text) {
  const classes = [];
  if (style.bold) classes.push("a-bold");
  if (style.dim) classes.push("a-dim");
  if (style.italic) classes.push("a-italic");
  if (style.underline) classes.push("a-underline");
  if (style.fg?.startsWith("c")) classes.push(`a-fg-${style.fg}`);
  if (style.bg?.startsWith("c")) classes.push(`a-bg-${style.bg}`);
  const custom = (style.fg && !style.fg.startsWith("c")) || (style.bg && !style.bg.startsWith("c"));
  if (!classes.length && !custom) return document.createTextNode(text);
  const span = h("span", { class: classes.join(" ") || null }, text);
  if (style.fg && !style.fg.startsWith("c")) span.style.color = style.fg;
  if (style.bg && !style.bg.startsWith("c")) span.style.backgroundColor = style.bg;
  return span;
}

/**
 * A console line's text as nodes, its colours applied and its escape codes gone.
 * @param {string} text
 * @returns {Node[]}
 */
export function ansiNodes(text) {
  if (!text.includes("\x1b")) return [document.createTextNode(text)];
  /** @type {Node[]} */
  const nodes = [];
  const style = plain();
  let at = 0;
  for (const match of text.matchAll(CSI)) {
    const index = match.index ?? 0;
    if (index > at) nodes.push(piece(style, text.slice(at, index)));
    if (match[2] === "m") apply(style, (match[1] || "0").split(";").map((v) => Number(v) || 0));
    at = index + match[0].length;
  }
  // A lone ESC or a sequence of another kind (OSC) left over is not shown either.
  if (at < text.length) nodes.push(piece(style, text.slice(at).replace(/\x1b\][^\x07]*\x07?|\x1b/g, "")));
  return nodes;
}

/**
 * A line's text without escape codes: what search and copy see.
 * @param {string} text
 * @returns {string}
 */
export function stripAnsi(text) {
  return text.replace(CSI, "").replace(/\x1b\][^\x07]*\x07?|\x1b/g, "");
}
