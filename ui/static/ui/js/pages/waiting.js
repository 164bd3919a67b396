// The waiting list: cases by priority with waiting time, treat-by date, screening and estimate;
// filters; "Find slots" and one-click booking for coordinators. Four requests for any length.
import { api, hasRole, me } from "../api.js";
import { h, replace, field, select } from "../dom.js";
import { fmtDate, fmtMinutes, fmtWait, words } from "../format.js";
import { run, param } from "../page.js";
import { showSlots } from "../slots.js";

const PRIORITY_ORDER = { P1: 1, P2: 2, P3: 3, P4: 4 };

function sortKey(c) {
  // Priority first; within a class the earliest treat-by date (else the earliest referral).
  return [PRIORITY_ORDER[c.priority] || 9, c.treat_by || c.referral_date || "", c.id];
}

function compare(a, b) {
  const ka = sortKey(a);
  const kb = sortKey(b);
  for (let i = 0; i < ka.length; i += 1) {
    if (ka[i] < kb[i]) return -1;
    if (ka[i] > kb[i]) return 1;
  }
  return 0;
}

function screeningBadge(result) {
  const value = result?.result || "incomplete";
  return h("span", { class: `badge ${value}` }, words(value));
}

async function draw(root) {
  const user = await me();
  const canBook = hasRole(user, "coordinator");
  const filter = { priority: param("priority"), surgeon: param("surgeon"), procedure: param("procedure") };
  const [cases, surgeons, theatres] = await Promise.all([
    api("cases/", { params: { status: "waiting", priority: filter.priority, surgeon: filter.surgeon, page_size: 500 } }),
    api("staff/", { params: { role: "surgeon" } }),
    api("theatres/"),
  ]);
  const surgeonName = new Map(surgeons.results.map((s) => [s.id, s.name]));
  const theatresById = new Map(theatres.results.map((t) => [t.id, t]));
  const rows = cases.results.filter((c) => !filter.procedure || c.procedure === filter.procedure).sort(compare);

  const filters = h(
    "form",
    { class: "filters", method: "get", action: "/waiting/", "aria-label": "Filter the waiting list" },
    field("Priority", select("priority", ["P1", "P2", "P3", "P4"].map((p) => [p, p]), { value: filter.priority, blank: "Any" })),
    field("Surgeon", select("surgeon", surgeons.results.map((s) => [s.id, s.name]), { value: filter.surgeon, blank: "Any" })),
    field("Procedure", select("procedure", [["kyphoplasty", "Kyphoplasty"], ["vertebroplasty", "Vertebroplasty"]], { value: filter.procedure, blank: "Any" })),
    h("button", { type: "submit" }, "Filter"),
  );

  const table = h(
    "table",
    { id: "waiting-list" },
    h("caption", { class: "muted" }, `${rows.length} waiting, most urgent first`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Priority", "Case", "Procedure", "Surgeon", "Waiting", "Treat by", "Screening", "Estimate", canBook ? "Book" : null]
          .filter(Boolean)
          .map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
  );
  const body = h("tbody");
  for (const c of rows) {
    const who = c.patient_detail ? `${c.patient_detail.given_name} ${c.patient_detail.family_name}` : c.reference;
    const nhs = c.patient_detail ? h("div", { class: "muted" }, `NHS ${c.patient_detail.nhs_number} · ${c.reference}`) : null;
    const row = h(
      "tr",
      { dataset: { case: c.id } },
      h("td", {}, h("span", { class: `badge ${c.priority}` }, c.priority)),
      h("td", {}, h("a", { href: `/cases/${c.id}/` }, who), nhs),
      h("td", {}, `${words(c.procedure)} ${c.levels.join(", ")}`, h("div", { class: "muted" }, words(c.anaesthesia))),
      h("td", {}, surgeonName.get(c.surgeon) || "—"),
      h("td", {}, fmtWait(c.referral_date), h("div", { class: "muted" }, `since ${fmtDate(c.referral_date)}`)),
      // treat_by: referral date plus the priority's maximum wait (DESIGN §5.4), when the API gives it.
      h("td", { class: "treat-by" }, c.treat_by ? fmtDate(c.treat_by) : "—"),
      h("td", {}, screeningBadge(c.screening_result)),
      h("td", {}, fmtMinutes(c.slot_minutes ?? c.estimated_minutes)),
    );
    body.append(row);
    if (canBook) {
      const slotsRow = h("tr", { class: "slots", hidden: true }, h("td", { colspan: 9 }));
      const button = h("button", { type: "button", "aria-expanded": "false", "aria-label": `Find slots for ${c.reference}` }, "Find slots");
      button.addEventListener("click", () => {
        const open = button.getAttribute("aria-expanded") === "true";
        button.setAttribute("aria-expanded", String(!open));
        slotsRow.hidden = open;
        if (!open) {
          showSlots(slotsRow.firstChild, c.id, theatresById, {
            onBooked: () => {
              button.disabled = true;
              button.textContent = "Booked";
            },
          });
        }
      });
      row.append(h("td", {}, button));
      body.append(slotsRow);
    }
  }
  table.append(body);
  replace(root, filters, rows.length ? h("div", { class: "table-wrap" }, table) : h("p", {}, "No case is waiting."));
  document.body.dataset.ready = "waiting";
}

run(draw);
