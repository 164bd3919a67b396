// A new patient (coordinators). The draft survives an expired session; on success the new case
// form opens with this patient chosen.
import { api } from "../api.js";
import { h, replace, field, loading } from "../dom.js";
import { keepDraft } from "../drafts.js";
import { showErrors } from "../forms.js";
import { run } from "../page.js";

function input(name, attrs = {}) {
  return h("input", { name, id: `id_${name}`, ...attrs });
}

async function draw(root) {
  const status = h("div", { "aria-live": "assertive" });
  const form = h(
    "form",
    { id: "patient-form", novalidate: true },
    h(
      "fieldset",
      {},
      h("legend", {}, "Identity"),
      field("NHS number", input("nhs_number", { required: true, inputmode: "numeric", autocomplete: "off" }), "10 digits, checked with the modulus-11 check digit"),
      field("Hospital number (MRN)", input("mrn", { required: true, autocomplete: "off" })),
      field("Given name", input("given_name", { required: true, autocomplete: "off" })),
      field("Family name", input("family_name", { required: true, autocomplete: "off" })),
      field("Date of birth", input("date_of_birth", { type: "date", required: true })),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Contact and reminders"),
      field("Email", input("email", { type: "email", autocomplete: "off" })),
      field("Mobile phone", input("phone", { type: "tel", autocomplete: "off" })),
      field("Address", h("textarea", { name: "address", id: "id_address", rows: 2 })),
      h(
        "div",
        { class: "field", dataset: { field: "reminder_channels" } },
        h("span", { class: "label", id: "channels-label" }, "Send reminders by"),
        h(
          "div",
          { class: "choices", role: "group", "aria-labelledby": "channels-label" },
          h("label", {}, h("input", { type: "checkbox", name: "reminder_channels", value: "email" }), "Email"),
          h("label", {}, h("input", { type: "checkbox", name: "reminder_channels", value: "sms" }), "SMS"),
        ),
      ),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create patient")),
    status,
  );
  const draft = keepDraft(form, "patient-new");
  if (draft.restored) status.append(h("p", { class: "info" }, "Your unsaved entries were restored."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(["nhs_number", "mrn", "given_name", "family_name", "date_of_birth", "email", "phone", "address"].map((n) => [n, form.elements[n].value.trim()]));
    data.nhs_number = data.nhs_number.replace(/\s+/g, "");
    if (!data.date_of_birth) delete data.date_of_birth;
    data.reminder_channels = [...form.querySelectorAll("input[name=reminder_channels]:checked")].map((el) => el.value);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    replace(status, loading("Saving…"));
    try {
      const patient = await api("patients/", { method: "POST", body: data });
      draft.clear();
      location.assign(`/cases/new/?patient=${patient.id}`);
    } catch (error) {
      showErrors(form, status, error, "Patient not created. ");
      button.disabled = false;
    }
  });
  replace(root, form);
  document.body.dataset.ready = "patient_new";
}

run(draw);
