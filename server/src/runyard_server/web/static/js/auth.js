// @ts-check
// The API token: kept in this tab's sessionStorage only (gone with the tab; never
// localStorage, a cookie or a URL), sent as Bearer. Where the browser blocks storage
// the token lives in this page's memory instead.
import { h } from "./dom.js";
import { forget, load, store } from "./storage.js";

const KEY = "runyard.token";
/** Fired on document when a token is saved: who is signed in may have changed. */
export const SIGNED_IN = "runyard:signed-in";
let inMemory = "";

// An earlier version could keep the token in localStorage ("remember"): drop it.
forget("local", KEY);

/** @returns {string} the saved token, "" when none */
export function getToken() {
  return load("session", KEY) || inMemory;
}

/** @param {string} token */
export function setToken(token) {
  clearToken();
  if (!store("session", KEY, token)) inMemory = token;
}

export function clearToken() {
  forget("session", KEY);
  inMemory = "";
}

/** @type {Promise<void> | null} */
let open = null;

/**
 * Show the sign-in form over the page (the route stays as it is); resolves once a
 * token is saved. Several 401s at once share one form.
 * @param {string} [message]
 * @returns {Promise<void>}
 */
export function askForToken(message) {
  if (open) return open;
  open = new Promise((/** @type {() => void} */ resolve) => {
    const input = h("input", {
      type: "password",
      name: "token",
      autocomplete: "current-password",
      placeholder: "user token",
      required: true,
      autofocus: true,
    });
    const form = h(
      "form",
      { class: "login card", id: "login-form" },
      h("h2", {}, "Sign in to Runyard"),
      h("p", { class: "muted" }, message || "This server needs a token."),
      h("label", {}, "Token", input),
      h("p", { class: "muted" }, "Kept in this tab only, until you sign out or close it."),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
    );
    const overlay = h("div", { class: "overlay" }, form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      setToken(input.value.trim());
      overlay.remove();
      open = null;
      resolve();
      document.dispatchEvent(new Event(SIGNED_IN));
    });
    document.body.append(overlay);
    input.focus();
  });
  return open;
}
