// @ts-check
// Query strings built the same way everywhere: empty values are left out.

/**
 * True for a value worth showing or sending: not undefined, null or "".
 * @param {unknown} value
 * @returns {boolean}
 */
export function hasValue(value) {
  return value !== undefined && value !== null && value !== "";
}

/**
 * "a=1&b=2" from an object, leaving out empty values ("" when nothing is left).
 * @param {Record<string, unknown>} params
 * @returns {string}
 */
export function searchString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (hasValue(value)) search.set(key, String(value));
  }
  return search.toString();
}
