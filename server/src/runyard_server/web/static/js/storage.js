// @ts-check
// Web storage that may be blocked (privacy settings, a sandboxed frame): reading or
// writing it then works as if nothing were stored, and the page never fails on it.

/**
 * @param {"local" | "session"} kind
 * @returns {Storage | null}
 */
function area(kind) {
  try {
    return kind === "local" ? window.localStorage : window.sessionStorage;
  } catch {
    return null;
  }
}

/**
 * @param {"local" | "session"} kind
 * @param {string} key
 * @returns {string | null}
 */
export function load(kind, key) {
  try {
    return area(kind)?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

/**
 * @param {"local" | "session"} kind
 * @param {string} key
 * @param {string} value
 * @returns {boolean} whether it was stored
 */
export function store(kind, key, value) {
  try {
    const target = area(kind);
    target?.setItem(key, value);
    return Boolean(target);
  } catch {
    return false;
  }
}

/**
 * @param {"local" | "session"} kind
 * @param {string} key
 */
export function forget(kind, key) {
  try {
    area(kind)?.removeItem(key);
  } catch {
    // Nothing stored where nothing can be stored.
  }
}

/**
 * A JSON value kept across visits (column choices, chart settings); fallback when absent.
 * @template T
 * @param {string} key
 * @param {T} fallback
 * @returns {T}
 */
export function loadJson(key, fallback) {
  try {
    const text = load("local", key);
    return text === null ? fallback : JSON.parse(text);
  } catch {
    return fallback;
  }
}

/**
 * @param {string} key
 * @param {unknown} value
 */
export function storeJson(key, value) {
  store("local", key, JSON.stringify(value));
}
