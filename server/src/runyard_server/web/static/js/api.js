// @ts-check
// The one way the UI talks to the server: the same versioned routes as every client.
import { askForToken, getToken } from "./auth.js";
import { searchString } from "./query.js";

/** Where the API lives: the server writes its one constant into the page's <meta>. */
export const API = /** @type {HTMLMetaElement} */ (document.querySelector('meta[name="runyard-api"]')).content;

/** One console line as the API sends it. @typedef {{text: string, stream: string, ts: number}} LogLine */

/** An error response of the API: {error, detail} with its HTTP status. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} detail
   */
  constructor(status, code, detail) {
    super(detail || `${status} ${code}`);
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {Record<string, string>} [extra]
 * @returns {Record<string, string>}
 */
function headers(extra = {}) {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/**
 * @param {Response} response
 * @returns {Promise<ApiError>}
 */
async function fail(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = { error: "http", detail: `${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, body.error, body.detail);
}

/**
 * Call the API; a 401 shows the token form and retries once a token is given.
 * Resolves to the parsed JSON (null for 204).
 * @param {string} method
 * @param {string} path under the API prefix, e.g. "/tasks"
 * @param {unknown} [body] sent as JSON
 * @returns {Promise<any>}
 */
export async function request(method, path, body) {
  for (;;) {
    /** @type {RequestInit} */
    const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(API + path, init);
    if (response.status === 401) {
      const error = await fail(response);
      await askForToken(getToken() ? `That token was refused: ${error.message}` : error.message);
      continue;
    }
    if (!response.ok) throw await fail(response);
    return response.status === 204 ? null : response.json();
  }
}

/** @type {(path: string) => Promise<any>} */
export const get = (path) => request("GET", path);
/** @type {(path: string, body?: unknown) => Promise<any>} */
export const post = (path, body = {}) => request("POST", path, body);
/** @type {(path: string, body: unknown) => Promise<any>} */
export const patch = (path, body) => request("PATCH", path, body);
/** @type {(path: string) => Promise<any>} */
export const del = (path) => request("DELETE", path);

/**
 * "?a=1&b=2" from an object, leaving out empty values.
 * @param {Record<string, unknown>} params
 * @returns {string}
 */
export function query(params) {
  const text = searchString(params);
  return text ? `?${text}` : "";
}

export const seg = encodeURIComponent;

/** How long the console waits before reopening its stream (the server's retry). */
const RECONNECT_MS = 500;

/**
 * Follow a task's console with server-sent events. EventSource cannot send headers,
 * and a token in a URL would land in access logs: each connection opens with a
 * one-task ticket that expires within a minute. The server ends each response after a
 * while; then a fresh ticket opens the next one, resuming after the last line seen.
 * @param {string} taskId
 * @param {{after?: string, onLines: (lines: LogLine[]) => void, onEnd: (reason: string) => void, onState?: (state: string) => void}} handlers
 * @returns {() => void} stops following
 */
export function streamLogs(taskId, { after, onLines, onEnd, onState }) {
  /** @type {EventSource | null} */
  let source = null;
  let stopped = false;
  let cursor = after;
  /** @type {LogLine[]} */
  let batch = [];
  let scheduled = false;
  // A page arrives as many events at once: render them together, once per frame.
  const flush = () => {
    scheduled = false;
    const lines = batch;
    batch = [];
    if (lines.length) onLines(lines);
  };
  const connect = async () => {
    if (stopped) return;
    /** @type {{ticket: string}} */
    let grant;
    try {
      grant = await post(`/tasks/${seg(taskId)}/logs/stream-ticket`);
    } catch (error) {
      // A refusal (the task is gone, the token may not read it) will not pass on retry.
      const refused = error instanceof ApiError && error.status < 500;
      onState && onState(refused ? "closed" : "reconnecting");
      if (!refused) setTimeout(connect, RECONNECT_MS);
      return;
    }
    if (stopped) return;
    const opened = new EventSource(`${API}/tasks/${seg(taskId)}/logs/stream${query({ ticket: grant.ticket, after: cursor })}`);
    source = opened;
    opened.onmessage = (event) => {
      if (event.lastEventId) cursor = event.lastEventId;
      batch.push(JSON.parse(event.data));
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(flush);
      }
    };
    opened.addEventListener("end", (/** @type {MessageEvent} */ event) => {
      flush();
      opened.close();
      onEnd(event.data);
    });
    opened.onopen = () => onState && onState("live");
    // The ticket was spent on this connection: reconnect with a new one, not EventSource's own retry.
    opened.onerror = () => {
      opened.close();
      if (stopped) return;
      onState && onState("reconnecting");
      setTimeout(connect, RECONNECT_MS);
    };
  };
  connect();
  return () => {
    stopped = true;
    if (source) source.close();
  };
}

/**
 * Download an artifact; with a token the file is fetched with it, as a link cannot send one.
 * @param {string} taskId
 * @param {string} name
 */
export const download = (taskId, name) => save(`${API}/tasks/${seg(taskId)}/artifacts/${seg(name)}`, name);

/**
 * Download the task's whole console as plain text.
 * @param {string} taskId
 */
export const downloadLog = (taskId) => save(`${API}/tasks/${seg(taskId)}/logs/text`, `${taskId}.log`);

/**
 * @param {string} url
 * @param {string} name the file name to save as
 */
async function save(url, name) {
  const response = await fetch(url, { headers: headers() });
  if (!response.ok) throw await fail(response);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
