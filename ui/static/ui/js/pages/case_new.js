// A new case for the waiting list (coordinators): the procedure's own screening questionnaire
// (from /procedures/, so a new template version changes the form without a code change), the
// screening result and the duration estimate live as they are answered.
import { api } from "../api.js";
import { h, replace, field, loading, select } from "../dom.js";
import { keepDraft } from "../drafts.js";
import { showErrors } from "../forms.js";
import { today, words, fmtMinutes } from "../format.js";
import { run, param } from "../page.js";

function question(q, version) {
  const name = `q_${q.code}`;
  const labelId = `${name}-label`;
  let control;
  if (q.type === "bool") {
    control = h(
      "div",
      { class: "choices", role: "radiogroup", "aria-labelledby": labelId },
      h("label", {}, h("input", { type: "radio", name, value: "true" }), "Yes"),
      h("label", {}, h("input", { type: "radio", name, value: "false" }), "No"),
    );
  } else if (q.type === "number") {
    control = h("input", { type: "number", step: "any", name, id: name, "aria-labelledby": labelId, class: "num" });
  } else {
    const drugs = Object.keys(version.anticoagulant_hold_days || {}).sort();
    control = h(
      "div",
      { class: "choices", role: "group", "aria-labelledby": labelId },
      h("label", {}, h("input", { type: "checkbox", name, value: "" , dataset: { none: "1" } }), "None"),
      drugs.map((d) => h("label", {}, h("input", { type: "checkbox", name, value: d }), words(d))),
    );
  }
  return h(
    "div",
    { class: "question", dataset: { question: q.code } },
    h("span", { id: labelId }, q.label, q.unit ? ` (${q.unit})` : "", q.required ? "" : " (optional)"),
    control,
  );
}

function answersOf(form, questionnaire) {
  const answers = {};
  for (const q of questionnaire) {
    const name = `q_${q.code}`;
    if (q.type === "bool") {
      const checked = form.querySelector(`input[name="${name}"]:checked`);
      if (checked) answers[q.code] = checked.value === "true";
    } else if (q.type === "number") {
      const value = form.elements[name].value;
      if (value !== "") answers[q.code] = Number(value);
    } else {
      const boxes = [...form.querySelectorAll(`input[name="${name}"]:checked`)];
      if (boxes.length) answers[q.code] = boxes.filter((b) => b.value).map((b) => b.value);
    }
  }
  return answers;
}

async function draw(root) {
  const patientId = param("patient");
  const [procedures, surgeons, patients, chosen] = await Promise.all([
    api("procedures/"),
    api("staff/", { params: { role: "surgeon", active: "true" } }),
    api("patients/", { params: { page_size: 500 } }),
    patientId ? api(`patients/${patientId}/`) : Promise.resolve(null),
  ]);
  const label = (p) => `${p.family_name}, ${p.given_name} (NHS ${p.nhs_number})`;
  const everyone = [...patients.results];
  if (chosen && !everyone.some((p) => p.id === chosen.id)) everyone.push(chosen);
  everyone.sort((a, b) => label(a).localeCompare(label(b)));
  const patientOptions = new Map(everyone.map((p) => [p.id, label(p)]));
  const versions = new Map(procedures.results.filter((p) => p.latest_version).map((p) => [p.slug, p.latest_version]));

  const patientSelect = select("patient", [...patientOptions], { value: chosen?.id ?? "", blank: "Choose a patient", id: "id_patient", required: true });
  // Narrowed in the page: what is typed (a name, an NHS number) never goes into a URL or a log.
  const patientFilter = h("input", { type: "search", id: "id_patient_filter", autocomplete: "off" });
  patientFilter.addEventListener("input", () => {
    const needle = patientFilter.value.trim().toLowerCase().replace(/\s+/g, "");
    for (const option of patientSelect.options) {
      if (!option.value) continue;
      option.hidden = Boolean(needle) && !option.textContent.toLowerCase().replace(/\s+/g, "").includes(needle);
    }
    const first = [...patientSelect.options].find((o) => o.value && !o.hidden);
    if (needle && first && patientSelect.selectedOptions[0]?.hidden !== false) patientSelect.value = first.value;
  });
  const status = h("div", { "aria-live": "assertive" });
  const screening = h("div", { id: "screening-result", "aria-live": "polite" });
  const estimate = h("div", { id: "estimate", "aria-live": "polite" });
  const procedureSelect = select("procedure", procedures.results.map((p) => [p.slug, p.name]), { value: "kyphoplasty", id: "id_procedure" });
  const levelsBox = h("div", { class: "choices", role: "group", "aria-labelledby": "levels-label" });
  const anaesthesiaBox = h("div", { class: "field", dataset: { field: "anaesthesia" } });
  const questions = h("fieldset", { id: "questionnaire" });

  const form = h(
    "form",
    { id: "case-form", novalidate: true },
    h(
      "fieldset",
      {},
      h("legend", {}, "The case"),
      field("Find a patient", patientFilter, "Type part of a name or NHS number to narrow the list below"),
      field("Patient", patientSelect),
      field("Procedure", procedureSelect),
      h("div", { class: "field", dataset: { field: "levels" } }, h("span", { class: "label", id: "levels-label" }, "Levels"), levelsBox),
      anaesthesiaBox,
      field("Approach", select("approach", [["bipedicular", "Bipedicular"], ["unipedicular", "Unipedicular"]], { id: "id_approach" })),
      field("Surgeon", select("surgeon", surgeons.results.map((s) => [s.id, s.name]), { blank: "Choose a surgeon", id: "id_surgeon", required: true })),
      field("Priority", select("priority", [["P1", "P1: within 72 hours"], ["P2", "P2: within 1 month"], ["P3", "P3: within 3 months"], ["P4", "P4: more than 3 months"]], { value: "P3", id: "id_priority" })),
      field("Referral date", h("input", { type: "date", name: "referral_date", id: "id_referral_date", value: today(), required: true })),
      field("Notes", h("textarea", { name: "notes", id: "id_notes", rows: 2 })),
    ),
    questions,
    h("section", { class: "panel", "aria-label": "Screening and estimate" }, screening, estimate),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add to waiting list")),
    status,
  );

  function drawProcedure() {
    const version = versions.get(procedureSelect.value);
    if (!version) return;
    replace(levelsBox, version.allowed_levels.map((l) => h("label", {}, h("input", { type: "checkbox", name: "levels", value: l }), l)));
    replace(
      anaesthesiaBox,
      h("label", { for: "id_anaesthesia" }, "Anaesthesia"),
      select("anaesthesia", version.anaesthesia_options.map((o) => [o.code, o.label]), { value: version.default_anaesthesia, id: "id_anaesthesia" }),
    );
    replace(questions, h("legend", {}, "Screening questions"), version.questionnaire.map((q) => question(q, version)));
  }

  let timer = null;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const slug = procedureSelect.value;
      const version = versions.get(slug);
      const answers = answersOf(form, version.questionnaire);
      const levels = [...form.querySelectorAll("input[name=levels]:checked")].map((b) => b.value);
      try {
        const result = await api(`procedures/${slug}/screen/`, { method: "POST", body: { answers } });
        replace(
          screening,
          h("p", {}, "Screening: ", h("span", { class: `badge ${result.result}` }, words(result.result))),
          result.blockers.length ? h("ul", { class: "error" }, result.blockers.map((b) => h("li", {}, b.message))) : null,
          result.warnings.length ? h("ul", { class: "info" }, result.warnings.map((w) => h("li", {}, w.message))) : null,
          result.missing.length ? h("p", { class: "muted" }, `${result.missing.length} questions still to answer.`) : null,
        );
      } catch (error) {
        replace(screening, h("p", { class: "muted" }, `Screening not checked yet: ${error.detail || error.message}`));
      }
      if (levels.length) {
        try {
          const est = await api(`procedures/${slug}/estimate/`, { method: "POST", body: { levels, anaesthesia: form.elements.anaesthesia.value } });
          replace(estimate, h("p", {}, `Estimate: ${fmtMinutes(est.total_minutes)} (template, turnover included)`));
        } catch (error) {
          replace(estimate, h("p", { class: "muted" }, `No estimate: ${error.detail || error.message}`));
        }
      } else replace(estimate, h("p", { class: "muted" }, "Choose levels for an estimate."));
    }, 250);
  }

  drawProcedure();
  procedureSelect.addEventListener("change", () => {
    drawProcedure();
    refresh();
  });
  form.addEventListener("change", refresh);
  const draft = keepDraft(form, "case-new");
  if (draft.restored) status.append(h("p", { class: "info" }, "Your unsaved entries were restored."));
  if (chosen) form.elements.patient.value = String(chosen.id);
  refresh();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const version = versions.get(procedureSelect.value);
    const body = {
      patient: Number(form.elements.patient.value) || null,
      procedure: procedureSelect.value,
      levels: [...form.querySelectorAll("input[name=levels]:checked")].map((b) => b.value),
      anaesthesia: form.elements.anaesthesia.value,
      approach: form.elements.approach.value,
      surgeon: Number(form.elements.surgeon.value) || null,
      priority: form.elements.priority.value,
      referral_date: form.elements.referral_date.value,
      notes: form.elements.notes.value,
      screening_answers: answersOf(form, version.questionnaire),
    };
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    replace(status, loading("Saving…"));
    try {
      const created = await api("cases/", { method: "POST", body });
      draft.clear();
      location.assign(`/cases/${created.id}/`);
    } catch (error) {
      showErrors(form, status, error, "Case not created. ");
      button.disabled = false;
    }
  });
  replace(root, form);
  document.body.dataset.ready = "case_new";
}

run(draw);
