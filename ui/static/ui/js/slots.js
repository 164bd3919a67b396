// "Find slots" and one-click booking, shared by the waiting list and the case page.
// Slots come from /availability/ (every booking rule already applied); the click books through
// /cases/{id}/book/ with an Idempotency-Key, and a refusal is shown in plain words beside it.
import { api, errorMessage, idempotencyKey } from "./api.js";
import { h, replace, loading } from "./dom.js";
import { fmtDateTime, fmtTime, localDate } from "./format.js";

// `action` is "book" (a waiting case) or "move" (a booked one; availability leaves its own time out).
export async function showSlots(container, caseId, theatresById, { onBooked, limit = 6, action = "book" } = {}) {
  replace(container, loading("Finding slots…"));
  let slots;
  try {
    slots = await api("availability/", { params: { case: caseId, limit } });
  } catch (error) {
    replace(container, errorMessage(error, "Could not find slots. "));
    return;
  }
  if (!slots.results.length) {
    replace(container, h("p", { class: "info" }, "No free slot fits this case in the next four weeks."));
    return;
  }
  const status = h("div", { class: "book-status", "aria-live": "assertive" });
  const list = h(
    "ul",
    { class: "slot-list", "aria-label": "Free slots" },
    slots.results.map((slot) => {
      const theatre = theatresById.get(slot.theatre)?.name || `Theatre ${slot.theatre}`;
      const label = `${fmtDateTime(slot.start)}–${fmtTime(slot.end)}, ${theatre}`;
      const verb = action === "move" ? "Move to" : "Book";
      const button = h("button", { type: "button", class: "primary", dataset: { session: slot.session, start: slot.start } }, `${verb} ${label}`);
      button.addEventListener("click", () => book(button, caseId, slot, label, status, onBooked, action));
      return h("li", { class: "actions" }, button);
    }),
  );
  replace(container, h("p", {}, "Free slots, earliest first:"), list, status);
}

async function book(button, caseId, slot, label, status, onBooked, action) {
  const buttons = button.closest("ul").querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  replace(status, loading("Booking…"));
  try {
    const booked = await api(`cases/${caseId}/${action}/`, {
      method: "POST",
      body: { session: slot.session, start: slot.start },
      headers: { "Idempotency-Key": idempotencyKey() },
    });
    replace(status, h("p", { class: "success", role: "status" }, `${action === "move" ? "Moved" : "Booked"}: ${label}. `, h("a", { href: `/?week=${localDate(booked.start)}` }, "See it on the board")));
    onBooked?.(booked);
  } catch (error) {
    // The message sits beside the action; the slot list stays so another slot can be chosen.
    const item = button.closest("li");
    item.querySelector(".error")?.remove();
    item.append(errorMessage(error, action === "move" ? "Not moved. " : "Not booked. "));
    replace(status);
    buttons.forEach((b) => (b.disabled = false));
  }
}
