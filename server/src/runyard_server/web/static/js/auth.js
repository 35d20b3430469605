// @ts-check
// The API token: kept in sessionStorage (gone with the tab), or localStorage when the
// user ticks "remember"; sent as Bearer, never in a URL. Where the browser blocks
// storage the token lives in this page's memory instead.
import { h } from "./dom.js";
import { forget, load, store } from "./storage.js";

const KEY = "runyard.token";
let inMemory = "";

/** @returns {string} the saved token, "" when none */
export function getToken() {
  return load("local", KEY) || load("session", KEY) || inMemory;
}

/**
 * @param {string} token
 * @param {boolean} remember keep it across browser sessions
 */
export function setToken(token, remember) {
  clearToken();
  if (!store(remember ? "local" : "session", KEY, token)) inMemory = token;
}

export function clearToken() {
  forget("local", KEY);
  forget("session", KEY);
  inMemory = "";
}

/** @type {Promise<void> | null} */
let open = null;

/**
 * Show the token form over the page; resolves once a token is saved.
 * Several 401s at once share one form.
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
    const remember = h("input", { type: "checkbox", name: "remember" });
    const form = h(
      "form",
      { class: "login card", id: "login-form" },
      h("h2", {}, "Sign in to Runyard"),
      h("p", { class: "muted" }, message || "This server needs a token."),
      h("label", {}, "Token", input),
      h("label", { class: "inline" }, remember, " Remember on this device"),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
    );
    const overlay = h("div", { class: "overlay" }, form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      setToken(input.value.trim(), remember.checked);
      overlay.remove();
      open = null;
      resolve();
    });
    document.body.append(overlay);
    input.focus();
  });
  return open;
}
