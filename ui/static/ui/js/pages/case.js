// The case: the plan as the surgeon reviews it, Approve (the case's own surgeon, sending the
// fingerprint of the plan on screen), Confirm (coordinators), the print view, the WHO checklist
// drawn from the API's own item definitions, theatre times, reminders and history.
import { api, errorMessage, hasRole, idempotencyKey, me } from "../api.js";
import { h, replace, loading } from "../dom.js";
import { fmtDate, fmtDateTime, fmtMinutes, fmtShortDate, fmtTime, localDate, words, zonedISO } from "../format.js";
import { run, setTitle } from "../page.js";
import { showSlots } from "../slots.js";

const caseId = document.body.dataset.case_id;

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

function panel(title, id, ...children) {
  return h("section", { class: "panel", id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, title), ...children);
}

function planPanel(plan) {
  const approval = plan.approval || {};
  const state = approval.approved
    ? `Approved by ${approval.approved_by?.name || "the surgeon"}, ${fmtDateTime(approval.approved_at)}`
    : approval.state === "withdrawn"
      ? "Approval withdrawn by a later change: needs approving again"
      : "Not approved yet";
  const steps = h(
    "table",
    {},
    h("caption", { class: "muted" }, "Timed steps"),
    h("thead", {}, h("tr", {}, ["Time", "Step", "Level", "Minutes"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, plan.steps.map((s) => h("tr", {}, h("td", {}, s.start_clock ? `${s.start_clock}–${s.end_clock}` : `+${s.offset_minutes} min`), h("td", {}, s.name), h("td", {}, s.level || ""), h("td", { class: "num" }, s.minutes)))),
  );
  const levels = h(
    "table",
    {},
    h("caption", { class: "muted" }, "Levels and cement"),
    h("thead", {}, h("tr", {}, ["Level", "Approach", "Planned mL", "Max mL"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, plan.levels.map((l) => h("tr", {}, h("td", {}, l.level), h("td", {}, words(l.approach)), h("td", { class: "num" }, l.planned_ml), h("td", { class: "num" }, l.max_ml)))),
  );
  const screening = plan.screening || {};
  return panel(
    "Plan",
    "plan",
    h("p", { id: "approval-state", class: approval.approved ? "success" : "info" }, state),
    h(
      "div",
      { class: "two-col" },
      facts([
        ["Procedure", `${plan.procedure.name} (version ${plan.procedure.version})`],
        ["Anaesthesia", `${plan.anaesthesia.label}`],
        ["Positioning", words(plan.positioning)],
        ["Approach", words(plan.approach)],
        ["Imaging", `${(plan.imaging.intra_op || []).map(words).join(", ")} in theatre; ${(plan.imaging.post_op || []).map(words).join(", ") || "none"} after`],
        ["Cement", `${plan.cement.product}; ${plan.cement.total_planned_ml} mL planned`],
        ["Theatre time", `${fmtMinutes(plan.theatre_minutes)} + ${plan.turnover_minutes} min turnover`],
        ["Equipment", (plan.equipment.length ? plan.equipment.map((u) => `${u.name} (${u.serial})`) : plan.required_equipment.map(words)).join(", ")],
      ]),
      facts([
        ["Screening", words(screening.result)],
        ["Blockers", (screening.blockers || []).map((b) => b.message || b.code).join("; ") || "none"],
        ["Warnings", (screening.warnings || []).map((w) => w.message || w.code).join("; ") || "none"],
        ["Anticoagulants", (plan.anticoagulant_holds || []).map((a) => `${a.drug}: stop from ${fmtDate(a.stop_from)}`).join("; ") || "none"],
        ["Fasting", plan.anaesthesia.fasting ? `food ${plan.anaesthesia.fasting.food_hours} h, clear fluids ${plan.anaesthesia.fasting.clear_fluids_hours} h` : "not needed"],
        ["Follow-up", (plan.follow_up || []).map((f) => `${f.title} (${fmtDate(f.due_on)})`).join("; ") || "—"],
      ]),
    ),
    levels,
    steps,
    h("h3", {}, "Risks to consent for"),
    h("ul", {}, (plan.risks || []).map((r) => h("li", {}, `${r.name}: ${r.frequency}`))),
  );
}

function checklistForm(state, onSigned) {
  const phase = state.next_phase;
  const definition = state.definition.find((d) => d.phase === phase);
  const form = h("form", { id: "checklist-form", "aria-label": `WHO checklist: ${words(phase)}` });
  const fieldset = h("fieldset", {}, h("legend", {}, `${words(phase)}: confirm each item`));
  for (const item of definition.items) {
    const name = `item-${item.code}`;
    if (item.accepts.length === 1 && item.accepts[0] === true) {
      fieldset.append(h("div", { class: "question" }, h("label", { for: name }, item.label), h("input", { type: "checkbox", id: name, name: item.code, value: "true", required: true })));
    } else {
      const choices = item.accepts.map((value, i) =>
        h("label", {}, h("input", { type: "radio", name: item.code, value: JSON.stringify(value), required: i === 0 }), value === true ? "Confirmed" : words(value)),
      );
      fieldset.append(h("div", { class: "question", role: "radiogroup", "aria-label": item.label }, h("span", {}, item.label), h("div", { class: "choices" }, choices)));
    }
  }
  const status = h("div", { "aria-live": "assertive" });
  form.append(fieldset, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, `Sign ${words(phase).toLowerCase()}`)), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const items = {};
    for (const item of definition.items) {
      const el = form.elements[item.code];
      if (el.type === "checkbox") items[item.code] = el.checked;
      else items[item.code] = JSON.parse(el.value);
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    replace(status, loading("Signing…"));
    try {
      await api(`cases/${caseId}/checklist/`, { method: "POST", body: { phase, items }, headers: { "Idempotency-Key": idempotencyKey() } });
      onSigned();
    } catch (error) {
      replace(status, errorMessage(error, "Not signed. "));
      button.disabled = false;
    }
  });
  return form;
}

function checklistPanel(state, user, reload) {
  const signed = state.phases.map((p) =>
    h("li", { dataset: { phase: p.phase } }, h("strong", {}, words(p.phase)), ` signed by ${p.signed_by.name || p.signed_by.username}, ${fmtDateTime(p.signed_at)}`),
  );
  const canSign = hasRole(user, "surgeon", "anaesthetist") && !user.is_admin;
  let body;
  if (!state.next_phase) body = h("p", { class: "success" }, "All three phases are signed.");
  else if (!["confirmed", "in_theatre"].includes(state.status)) body = h("p", { class: "info" }, `The checklist starts once the case is confirmed (now ${words(state.status)}).`);
  else if (canSign) body = checklistForm(state, reload);
  else body = h("p", { class: "muted" }, `Next: ${words(state.next_phase)}, signed by the theatre team.`);
  return panel("WHO Surgical Safety Checklist", "checklist", signed.length ? h("ul", {}, signed) : h("p", { class: "muted" }, "No phase signed yet."), body);
}

function timesPanel(times, kase, canRecord) {
  const recorded = times.order.some((n) => times.milestones[n]);
  const table = recorded
    ? h("table", {}, h("tbody", {}, times.order.map((name) => h("tr", {}, h("th", { scope: "row" }, words(name)), h("td", {}, fmtDateTime(times.milestones[name]))))))
    : h("p", { class: "muted" }, "No theatre times recorded yet.");
  const touch = times.touch ? h("p", {}, `Touch time: ${fmtMinutes(times.touch.minutes ?? times.touch)}`) : null;
  // Times are recorded once the case is in theatre (after the WHO sign in), DESIGN §5.1.
  if (!canRecord || !["in_theatre", "completed"].includes(kase.status) || !kase.start) return panel("Theatre times", "times", table, touch);
  const day = localDate(kase.start);
  const status = h("div", { "aria-live": "assertive" });
  const inputs = times.order.map((name) => {
    const value = times.milestones[name] ? fmtTime(times.milestones[name]) : "";
    return h("div", { class: "field", dataset: { field: name } }, h("label", { for: `t-${name}` }, `${words(name)} (${fmtShortDate(day)})`), h("input", { type: "time", id: `t-${name}`, name, value, dataset: { was: value } }));
  });
  const reason = h("input", { type: "text", id: "t-reason", name: "reason", maxlength: 500 });
  const form = h(
    "form",
    { id: "times-form" },
    h("div", { class: "filters" }, inputs),
    h("div", { class: "field" }, h("label", { for: "t-reason" }, "Reason (needed to change a time already recorded)"), reason),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Record times")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const milestones = {};
    for (const name of times.order) {
      const el = form.elements[name];
      if (el.value === el.dataset.was) continue;
      milestones[name] = el.value ? zonedISO(day, el.value) : null;
    }
    if (!Object.keys(milestones).length) {
      replace(status, h("p", { class: "info" }, "Nothing changed."));
      return;
    }
    const body = reason.value ? { milestones, reason: reason.value } : { milestones };
    act(form.querySelector("button[type=submit]"), `cases/${caseId}/times/`, body, status, "Times not recorded. ");
  });
  return panel("Theatre times", "times", table, touch, form);
}

function remindersPanel(reminders) {
  const rows = reminders.results.map((r) =>
    h("tr", {}, h("td", {}, words(r.kind.split(/[:@]/)[0])), h("td", {}, r.channel), h("td", {}, fmtDateTime(r.due_at)), h("td", {}, words(r.status)), h("td", {}, r.sent_at ? fmtDateTime(r.sent_at) : r.last_error || "—")),
  );
  return panel(
    "Reminders",
    "reminders",
    (reminders.warnings || []).map((w) => h("p", { class: "info" }, w.detail)),
    rows.length
      ? h("table", {}, h("thead", {}, h("tr", {}, ["Reminder", "Channel", "Due", "Delivery", "Sent"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No reminders."),
  );
}

function historyPanel(history) {
  const entries = history.results || history;
  return panel(
    "History",
    "history",
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["When", "Who", "What", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, entries.map((e) => h("tr", {}, h("td", {}, fmtDateTime(e.at)), h("td", {}, e.actor?.username || e.actor_label), h("td", {}, words(e.action.replace("case.", ""))), h("td", {}, e.reason || "")))),
    ),
  );
}

async function optional(promise) {
  try {
    return await promise;
  } catch (error) {
    if (error.status === 403) return null; // not for this role: the section is left out
    throw error;
  }
}

async function draw(root) {
  const user = await me();
  const [kase, plan, checklist, times, reminders, history] = await Promise.all([
    api(`cases/${caseId}/`),
    api(`cases/${caseId}/plan/`),
    api(`cases/${caseId}/checklist/`),
    api(`cases/${caseId}/times/`),
    optional(api("reminders/", { params: { case: caseId } })),
    optional(api(`cases/${caseId}/history/`)),
  ]);
  const patient = plan.patient;
  setTitle(patient ? `${patient.name} · ${kase.reference}` : `Case ${kase.reference}`);

  const isOwnSurgeon = hasRole(user, "surgeon") && user.staff && user.staff.id === kase.surgeon;
  const isCoordinator = hasRole(user, "coordinator");
  const actionStatus = h("div", { id: "action-status", "aria-live": "assertive" });
  const actions = h("div", { class: "actions" });
  if (isOwnSurgeon && !plan.approval?.approved && kase.status !== "cancelled") {
    const approve = h("button", { type: "button", class: "primary", id: "approve" }, "Approve plan");
    approve.addEventListener("click", () => act(approve, `cases/${caseId}/plan/approve/`, { fingerprint: plan.fingerprint }, actionStatus, "Not approved. "));
    actions.append(approve);
  }
  if (isCoordinator && kase.status === "booked") {
    const confirm = h("button", { type: "button", class: "primary", id: "confirm" }, "Confirm case");
    confirm.addEventListener("click", () => act(confirm, `cases/${caseId}/confirm/`, undefined, actionStatus, "Not confirmed. "));
    actions.append(confirm);
  }
  actions.append(h("a", { class: "button", href: `/api/v1/cases/${caseId}/plan/?format=html`, target: "_blank", rel: "noopener" }, "Print view"));

  const summary = panel(
    "Summary",
    "summary",
    facts([
      patient && ["Patient", `${patient.name}, NHS ${patient.nhs_number}, MRN ${patient.mrn}, born ${fmtDate(patient.date_of_birth)}`],
      ["Reference", kase.reference],
      ["Status", h("span", { id: "case-status" }, words(kase.status))],
      ["Priority", kase.priority],
      ["Surgeon", plan.case.surgeon?.name],
      ["Procedure", `${words(kase.procedure)} ${kase.levels.join(", ")}, ${words(kase.anaesthesia)}`],
      ["When", kase.start ? `${fmtDateTime(kase.start)}–${fmtTime(kase.end)}, ${plan.session?.theatre?.name || ""}` : "Not booked"],
      ["List", plan.session ? `${plan.session.surgeon?.name || ""}${plan.session.anaesthetist ? ` · ${plan.session.anaesthetist.name}` : ""} (${words(plan.session.status)})` : "—"],
      ["Minutes", `${fmtMinutes(kase.slot_minutes)} booked (template ${kase.estimated_minutes}, learned p50 ${kase.predicted_minutes?.p50} from ${kase.predicted_minutes?.n} cases)`],
      kase.treat_by !== undefined && ["Treat by", kase.treat_by ? fmtDate(kase.treat_by) : "—"],
    ]),
    actions,
    actionStatus,
  );
  const sections = [summary];
  if (isCoordinator && ["waiting", "booked", "confirmed"].includes(kase.status)) {
    const [theatres, reasons] = await Promise.all([api("theatres/"), api("cancel-reasons/")]);
    const action = kase.status === "waiting" ? "book" : "move";
    const slotsBox = h("div");
    const find = h("button", { type: "button", class: "primary" }, action === "book" ? "Find slots" : "Find another slot");
    find.addEventListener("click", () => showSlots(slotsBox, kase.id, new Map(theatres.results.map((t) => [t.id, t])), { action }));
    sections.push(panel(action === "book" ? "Book" : "Move", "book", h("div", { class: "actions" }, find), slotsBox));
    sections.push(cancelPanel(reasons));
  }
  // Coordinators and the theatre team record times; the server checks it is this case's team.
  const canRecord = hasRole(user, "coordinator", "surgeon", "anaesthetist");
  sections.push(planPanel(plan), checklistPanel(checklist, user, () => location.reload()), timesPanel(times, kase, canRecord));
  if (reminders) sections.push(remindersPanel(reminders));
  if (history) sections.push(historyPanel(history));
  replace(root, sections);
  document.body.dataset.ready = "case";
}

function cancelPanel(reasons) {
  const status = h("div", { "aria-live": "assertive" });
  const reason = h("select", { name: "reason", id: "cancel-reason", required: true }, h("option", { value: "" }, "Choose a reason"));
  for (const r of reasons.filter((r) => !r.in_theatre_only)) reason.append(h("option", { value: r.code }, r.label));
  const note = h("textarea", { name: "note", id: "cancel-note", rows: 2 });
  const submit = h("button", { type: "submit", class: "danger" }, "Cancel case");
  const form = h(
    "form",
    { id: "cancel-form" },
    h("div", { class: "field" }, h("label", { for: "cancel-reason" }, "Reason"), reason),
    h("div", { class: "field" }, h("label", { for: "cancel-note" }, "Note (optional unless the reason needs one)"), note),
    h("div", { class: "actions" }, submit),
    status,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!reason.value) {
      replace(status, h("p", { class: "error", role: "alert" }, "Choose a reason for cancelling."));
      reason.focus();
      return;
    }
    act(submit, `cases/${caseId}/cancel/`, { reason: reason.value, note: note.value }, status, "Not cancelled. ");
  });
  return panel("Cancel", "cancel", form);
}

async function act(button, path, body, status, prefix) {
  button.disabled = true;
  replace(status, loading("Saving…"));
  try {
    await api(path, { method: "POST", body: body ?? {}, headers: { "Idempotency-Key": idempotencyKey() } });
    location.reload();
  } catch (error) {
    replace(status, errorMessage(error, prefix));
    button.disabled = false;
  }
}

run(draw);
