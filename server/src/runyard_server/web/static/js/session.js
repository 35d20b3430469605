// @ts-check
// Who is signed in (GET /me), shown in the top bar with a way to sign in or out. A
// viewer's pages offer no control that changes something: the body gets `read-only`
// and the stylesheet hides what dom.js's `writes` marked. The server refuses such
// requests anyway; this only keeps the page from offering them.
import { get } from "./api.js";
import { getToken } from "./auth.js";

/** @typedef {{kind: string, user: string | null, role: string | null}} Me */

const who = /** @type {HTMLElement} */ (document.getElementById("who"));
const signIn = /** @type {HTMLButtonElement} */ (document.getElementById("sign-in"));
const signOut = /** @type {HTMLButtonElement} */ (document.getElementById("sign-out"));

/**
 * Ask the server who this tab is (a 401 opens the sign-in form first) and show it.
 * @returns {Promise<Me>}
 */
export async function refreshWho() {
  /** @type {Me} */
  let me;
  try {
    me = await get("/me");
  } catch (error) {
    // Not a user's token (an agent's, say): the page says why; signing out still works.
    signOut.hidden = !getToken();
    throw error;
  }
  if (me.user) who.textContent = `${me.user} · ${me.role}`;
  else who.textContent = me.kind === "open" ? "open server" : `${me.kind} token`;
  who.dataset.role = me.role || me.kind;
  document.body.classList.toggle("read-only", me.role === "viewer");
  const token = Boolean(getToken());
  signOut.hidden = !token;
  // An open server needs no sign-in, but a stored token there still names its user.
  signIn.hidden = token;
  return me;
}
