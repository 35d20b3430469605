// The one way the UI talks to the server: the same /api/v1 routes as every client.
import { askForToken, getToken } from "./auth.js";

export const API = "/api/v1";

/** An error response of the API: {error, detail} with its HTTP status. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `${status} ${code}`);
    this.status = status;
    this.code = code;
  }
}

function headers(extra = {}) {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

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
 */
export async function request(method, path, body) {
  for (;;) {
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

export const get = (path) => request("GET", path);
export const post = (path, body = {}) => request("POST", path, body);

/** "?a=1&b=2" from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const seg = encodeURIComponent;

/**
 * Follow a task's console with server-sent events. EventSource cannot send
 * headers, so the token travels as ?token= (the stream route alone accepts that).
 */
export function streamLogs(taskId, { after, onLines, onEnd, onState }) {
  const token = getToken();
  const url = `${API}/tasks/${seg(taskId)}/logs/stream${query({ token, after })}`;
  const source = new EventSource(url);
  let batch = [];
  let scheduled = false;
  // A page arrives as many events at once: render them together, once per frame.
  const flush = () => {
    scheduled = false;
    const lines = batch;
    batch = [];
    if (lines.length) onLines(lines);
  };
  source.onmessage = (event) => {
    batch.push(JSON.parse(event.data));
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(flush);
    }
  };
  source.addEventListener("end", (event) => {
    flush();
    source.close();
    onEnd(event.data);
  });
  source.onopen = () => onState && onState("live");
  // The server ends each response after a while; EventSource reconnects by itself.
  source.onerror = () => onState && onState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  return () => source.close();
}

/** Download an artifact; with a token the file is fetched with it, as a link cannot send one. */
export const download = (taskId, name) => save(`${API}/tasks/${seg(taskId)}/artifacts/${seg(name)}`, name);

/** Download the task's whole console as plain text. */
export const downloadLog = (taskId) => save(`${API}/tasks/${seg(taskId)}/logs/text`, `${taskId}.log`);

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
