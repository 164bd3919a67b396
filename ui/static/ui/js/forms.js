// Field errors from a 400 ({code: "invalid", errors: {field: [messages]}}) shown beside their fields.
import { errorMessage } from "./api.js";
import { h, replace } from "./dom.js";

export function showErrors(form, status, error, prefix) {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  let first = null;
  if (error.errors) {
    for (const [name, messages] of Object.entries(error.errors)) {
      const control = form.elements[name];
      const box = form.querySelector(`[data-field="${name}"]`);
      if (!box) continue;
      const text = [].concat(messages).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ");
      const note = h("span", { class: "field-error", id: `${name}-error` }, text);
      box.append(note);
      if (control && control.setAttribute) {
        control.setAttribute("aria-invalid", "true");
        control.setAttribute("aria-describedby", note.id);
        first ||= control;
      }
    }
  }
  replace(status, errorMessage(error, prefix));
  (first || status).focus?.();
}
