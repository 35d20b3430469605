// @ts-check
// Hyperparameters: flattening sections to "Section/key" rows, and parsing edits back
// into values of the same JSON type.

/** Param sections as the API sends them. @typedef {Record<string, Record<string, unknown>>} Params */

/**
 * [["General/lr", 0.1], ...] for every key of every section, in order.
 * @param {Params | null | undefined} params
 * @returns {[string, unknown][]}
 */
export function flatParams(params) {
  /** @type {[string, unknown][]} */
  const rows = [];
  for (const [section, values] of Object.entries(params || {})) {
    for (const [key, value] of Object.entries(values || {})) rows.push([`${section}/${key}`, value]);
  }
  return rows;
}

/**
 * What kind of JSON value this is, as the form shows it.
 * @param {unknown} value
 * @returns {string}
 */
export function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "list";
  return typeof value === "object" ? "object" : typeof value;
}

/**
 * The text a form field starts with for a value.
 * @param {unknown} value
 * @returns {string}
 */
export function toText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Parse an edited field back to a value of the original's type; throws with a message
 * saying what is expected. A string stays a string whatever it looks like.
 * @param {unknown} original
 * @param {string} text
 * @returns {unknown}
 */
export function parseAs(original, text) {
  const type = typeOf(original);
  if (type === "string") return text;
  if (type === "number") {
    const n = Number(text.trim());
    if (text.trim() === "" || !Number.isFinite(n)) throw new Error(`expected a number, got "${text}"`);
    return n;
  }
  if (type === "boolean") {
    if (text === "true" || text === "false") return text === "true";
    throw new Error("expected true or false");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`expected JSON (${type}), e.g. ${toText(original)}`);
  }
}
