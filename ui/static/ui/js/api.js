// The one way the UI talks to the server: /api/v1/ with the session cookie and the CSRF token.
// It turns every failure into an ApiError with the server's {code, detail}, sends an expired
// session back to the login page (drafts are already in sessionStorage, see drafts.js), and
// says plainly when the server cannot be reached.
import { h } from "./dom.js";

const BASE = "/api/v1/";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `The server answered ${status}.`);
    this.status = status;
    this.code = body?.code || `http_${status}`;
    this.detail = body?.detail || "";
    this.errors = body?.errors || null;
  }
}

function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.split("=")[1]);
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

function offline(show) {
  const banner = document.getElementById("offline");
  if (!banner) return;
  banner.hidden = !show;
  if (show) banner.textContent = "The server cannot be reached. Check the network connection; nothing on this page was saved by the last action. Try again in a moment.";
}

export const EXPIRED_KEY = "ui:session-expired";

function sessionExpired() {
  // Keep where the user was; the login page says why they are there and sends them back.
  sessionStorage.setItem(EXPIRED_KEY, "1");
  const next = location.pathname + location.search;
  location.assign(`/login/?next=${encodeURIComponent(next)}`);
}

export function query(params) {
  const entries = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return entries.length ? `?${new URLSearchParams(entries)}` : "";
}

export function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

export async function api(path, { method = "GET", body, params, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path + query(params), init);
  } catch {
    offline(true);
    throw new ApiError(0, { code: "unreachable", detail: "The server cannot be reached." });
  }
  offline(false);
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.status === 401 || (response.status === 403 && data?.code === "not_authenticated")) {
    sessionExpired();
    throw new ApiError(response.status, { code: "not_authenticated", detail: "Your session has expired." });
  }
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

let mePromise = null;
export function me() {
  mePromise ||= api("me/");
  return mePromise;
}

export function hasRole(user, ...roles) {
  return user.is_admin || roles.some((r) => user.roles.includes(r));
}

// What a refusal means, in the words a coordinator uses. The server's own detail follows it.
const PLAIN = {
  slot_taken: "That time has just been taken by another case.",
  session_full: "There is no gap long enough on that list.",
  outside_session: "The case would not fit inside the list's hours.",
  not_eligible: "The case's screening is not 'eligible', so it cannot be booked.",
  surgeon_busy: "The surgeon is already operating elsewhere at that time.",
  anaesthetist_busy: "The anaesthetist is already busy at that time.",
  patient_busy: "The patient is already booked at that time.",
  equipment_unavailable: "The equipment the case needs is already in use at that time.",
  capability_missing: "That theatre lacks what the procedure needs (for example biplanar fluoroscopy).",
  session_locked: "That list is locked (6-4-2): changing it needs a coordinator's override.",
  invalid_transition: "The case is not in a state that allows this.",
  checklist_order: "The WHO checklist phases must be signed in order.",
  fill_conflict: "The lists changed while the fill was being committed; nothing was booked. Preview again.",
  busy: "The schedule is busy with another change. Try again.",
  invalid: "Some fields need correcting.",
  permission_denied: "Your role cannot do this.",
  not_found: "It no longer exists.",
  unreachable: "The server cannot be reached. Nothing was changed; try again when the connection is back.",
};

export function plainWords(error) {
  return PLAIN[error.code] || "The server refused this.";
}

// An error shown beside the action that caused it: plain words, then the server's detail and code.
export function errorMessage(error, prefix = "") {
  if (!(error instanceof ApiError)) {
    return h("div", { class: "error", role: "alert" }, `${prefix}Something went wrong in the page: ${error.message}`);
  }
  const detail = error.detail && error.detail !== plainWords(error) ? ` ${error.detail}` : "";
  const fields = error.errors
    ? h("ul", {}, Object.entries(error.errors).map(([name, msgs]) => h("li", {}, `${name}: ${[].concat(msgs).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")}`)))
    : null;
  return h(
    "div",
    { class: "error", role: "alert", dataset: { code: error.code } },
    h("strong", {}, `${prefix}${plainWords(error)}`),
    detail,
    h("span", { class: "muted" }, ` (${error.code})`),
    fields,
  );
}
