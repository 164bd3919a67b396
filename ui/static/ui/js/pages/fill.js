// Fill lists (DESIGN §5.4): preview a fill for a date range, see each placement and why each
// unplaced case was left out, then commit (coordinators). Admins and coordinators preview.
import { api, errorMessage, idempotencyKey, me } from "../api.js";
import { h, replace, field, loading } from "../dom.js";
import { addDays, fmtDateTime, fmtTime, today, words, fmtPercent } from "../format.js";
import { run } from "../page.js";

// Why a case was left out, in plain words (the codes are the booking rules' and fill's own).
const UNPLACED = {
  no_gap: "No free gap long enough in its surgeon's lists.",
  session_full: "Its surgeon's lists are full.",
  not_eligible: "Screening is not eligible.",
  overrun_risk: "Placing it would push a list past the overrun risk allowed.",
  surgeon_busy: "The surgeon is busy elsewhere at every free time.",
  anaesthetist_busy: "The anaesthetist is busy at every free time.",
  patient_busy: "The patient is booked elsewhere at every free time.",
  equipment_unavailable: "The equipment it needs is in use at every free time.",
  capability_missing: "No list of its surgeon is in a theatre with what it needs.",
  session_locked: "Its surgeon's lists are locked (6-4-2); use the override.",
  no_session: "Its surgeon has no list in the range.",
};

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function multiSelect(name, options, label) {
  return field(label, h("select", { name, multiple: true, size: Math.min(5, Math.max(2, options.length)) }, options.map(([v, t]) => h("option", { value: v }, t))), "None chosen means all");
}

async function draw(root) {
  const user = await me();
  // Coordinators commit; admins only preview (DESIGN §5.4), so not hasRole, which admits admins.
  const canCommit = user.roles.includes("coordinator");
  const [theatres, surgeons, waiting] = await Promise.all([
    api("theatres/"),
    api("staff/", { params: { role: "surgeon" } }),
    api("cases/", { params: { status: "waiting", page_size: 500 } }),
  ]);
  const theatreName = new Map(theatres.results.map((t) => [t.id, t.name]));
  const caseById = new Map(waiting.results.map((c) => [c.id, c]));
  const result = h("div", { id: "fill-result", "aria-live": "polite" });
  const form = h(
    "form",
    { id: "fill-form" },
    h(
      "div",
      { class: "filters" },
      field("From", h("input", { type: "date", name: "date_from", value: today(), required: true })),
      field("To", h("input", { type: "date", name: "date_to", value: addDays(today(), 13), required: true })),
      multiSelect("theatres", theatres.results.map((t) => [t.id, t.name]), "Theatres"),
      multiSelect("surgeons", surgeons.results.map((s) => [s.id, s.name]), "Surgeons"),
      field("Highest overrun risk per list (%)", h("input", { type: "number", name: "max_overrun_risk", min: 0, max: 100, step: 1, placeholder: "no limit" })),
    ),
    canCommit
      ? h(
          "fieldset",
          {},
          h("legend", {}, "Locked lists (6-4-2)"),
          h("label", {}, h("input", { type: "checkbox", name: "override" }), " Also fill locked lists"),
          field("Reason for the override", h("input", { type: "text", name: "override_reason", maxlength: 500 })),
        )
      : null,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", value: "preview" }, "Preview fill")),
  );

  function request(commit) {
    const picked = (name) => [...form.elements[name].selectedOptions].map((o) => Number(o.value));
    const body = { date_from: form.elements.date_from.value, date_to: form.elements.date_to.value, commit };
    if (picked("theatres").length) body.theatres = picked("theatres");
    if (picked("surgeons").length) body.surgeons = picked("surgeons");
    if (form.elements.max_overrun_risk.value !== "") body.max_overrun_risk = Number(form.elements.max_overrun_risk.value) / 100;
    if (form.elements.override?.checked) {
      body.override = true;
      body.override_reason = form.elements.override_reason.value;
    }
    return body;
  }

  function caseLabel(id) {
    const c = caseById.get(id);
    if (!c) return `Case ${id}`;
    const who = c.patient_detail ? `${c.patient_detail.given_name} ${c.patient_detail.family_name}` : c.reference;
    return `${who} · ${c.priority} · ${words(c.procedure)} ${c.levels.join(", ")}`;
  }

  // The lists the placements go into, for their theatre and day (one request per preview).
  let listsById = new Map();
  async function loadLists(body) {
    const lists = await api("sessions/", { params: { date_from: body.date_from, date_to: body.date_to, page_size: 500 } });
    listsById = new Map(lists.results.map((s) => [s.id, s]));
  }

  function listLabel(id) {
    const s = listsById.get(id);
    return s ? `${theatreName.get(s.theatre) || s.theatre_name}, ${s.surgeon_name}` : `List ${id}`;
  }

  function drawAnswer(answer) {
    const placements = h(
      "table",
      { id: "placements" },
      h("caption", {}, plural(answer.placements.length, "placement")),
      h("thead", {}, h("tr", {}, ["Case", "When", "List"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, answer.placements.map((p) => h("tr", {}, h("td", {}, h("a", { href: `/cases/${p.case}/` }, caseLabel(p.case))), h("td", {}, `${fmtDateTime(p.start)}–${fmtTime(p.end)}`), h("td", {}, listLabel(p.session))))),
    );
    const unplaced = h(
      "table",
      { id: "unplaced" },
      h("caption", {}, `${answer.unplaced.length} left on the waiting list`),
      h("thead", {}, h("tr", {}, ["Case", "Why"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, answer.unplaced.map((u) => h("tr", {}, h("td", {}, h("a", { href: `/cases/${u.case}/` }, caseLabel(u.case))), h("td", {}, `${UNPLACED[u.code] || words(u.code)} (${u.code})`)))),
    );
    const score = answer.score;
    const summary = h(
      "p",
      { class: answer.committed ? "success" : "info" },
      answer.committed ? "Committed: every placement is booked. " : "Preview only: nothing is booked yet. ",
      `${score.booked_minutes} minutes booked, ${score.free_minutes} free, utilisation ${fmtPercent(score.utilisation <= 1 ? score.utilisation * 100 : score.utilisation, 1)}; solved by ${answer.solver.method} in ${answer.solver.elapsed_ms} ms.`,
    );
    const parts = [summary, placements, unplaced];
    if (!answer.committed && canCommit && answer.placements.length) {
      const status = h("div", { "aria-live": "assertive" });
      const commit = h("button", { type: "button", class: "primary", id: "commit-fill" }, `Book ${answer.placements.length === 1 ? "this placement" : `these ${answer.placements.length} placements`}`);
      commit.addEventListener("click", async () => {
        commit.disabled = true;
        replace(status, loading("Booking…"));
        try {
          drawAnswer(await api("fill/", { method: "POST", body: request(true), headers: { "Idempotency-Key": idempotencyKey() } }));
        } catch (error) {
          replace(status, errorMessage(error, "Nothing booked. "));
          commit.disabled = false;
        }
      });
      parts.push(h("div", { class: "actions" }, commit), status);
    }
    replace(result, parts);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(result, loading("Working out the fill…"));
    try {
      const body = request(false);
      const [answer] = await Promise.all([api("fill/", { method: "POST", body }), loadLists(body)]);
      drawAnswer(answer);
    } catch (error) {
      replace(result, errorMessage(error, "No preview. "));
    }
  });
  replace(root, form, result);
  document.body.dataset.ready = "fill";
}

run(draw);
