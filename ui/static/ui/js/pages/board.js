// The theatre board: a week of lists by theatre and day, each with its team, status, cases in
// order with their times, a utilisation bar and the overrun forecast. Four requests whatever the
// week holds (theatres, surgeons, lists with their cases, and nothing per list).
import { api } from "../api.js";
import { h, replace, field, select } from "../dom.js";
import { addDays, fmtDay, fmtShortDate, fmtTime, localDate, mondayOf, today, words, fmtPercent } from "../format.js";
import { run, param } from "../page.js";

const DAYS = 7;

function weekLink(monday, theatre, surgeon) {
  const params = new URLSearchParams({ week: monday });
  if (theatre) params.set("theatre", theatre);
  if (surgeon) params.set("surgeon", surgeon);
  return `/?${params}`;
}

function utilisationBar(u) {
  const pct = Math.max(0, Math.min(100, u.percent));
  return h(
    "div",
    {},
    h("div", { class: `bar${pct >= 85 ? " high" : ""}`, "aria-hidden": "true" }, h("span", { style: `width:${pct}%` })),
    h("span", { class: "util" }, `${fmtPercent(u.percent)} booked (${u.booked_minutes} of ${u.session_minutes} min)`),
  );
}

function forecastLine(forecast) {
  if (!forecast || !forecast.expected_end) return null;
  const risk = forecast.p_overrun;
  return h(
    "div",
    { class: `forecast${risk >= 0.2 ? " risk" : ""}` },
    `Expected end ${fmtTime(forecast.expected_end)} · overrun risk ${fmtPercent(risk * 100)}`,
  );
}

function caseLine(c) {
  const who = c.patient ? `${c.patient.name} (${c.patient.nhs_number})` : c.reference;
  return h(
    "li",
    { dataset: { case: c.id } },
    h("span", { class: "t" }, `${fmtTime(c.start)}–${fmtTime(c.end)}`),
    " ",
    h("a", { href: `/cases/${c.id}/` }, who),
    h("br"),
    `${words(c.procedure)} ${c.levels.join(", ")}`,
    c.status !== "booked" ? h("span", { class: "muted" }, ` · ${words(c.status)}`) : null,
  );
}

function listCard(s) {
  const period = { am: "AM", pm: "PM", all_day: "All day" }[s.period] || "";
  return h(
    "article",
    { class: `list-card ${s.status}`, dataset: { session: s.id }, "aria-label": `${s.theatre_name} ${fmtDay(s.start)} ${period}` },
    h("h3", {}, h("span", {}, `${period} ${fmtTime(s.start)}–${fmtTime(s.end)}`), h("span", { class: `badge ${s.status}` }, words(s.status))),
    h("div", { class: "team" }, s.surgeon_name, s.anaesthetist_name ? ` · ${s.anaesthetist_name}` : ""),
    s.status === "cancelled" ? null : utilisationBar(s.utilisation),
    forecastLine(s.forecast),
    s.cases.length ? h("ol", {}, s.cases.map(caseLine)) : h("div", { class: "empty" }, "No cases booked"),
  );
}

async function draw(root) {
  const monday = mondayOf(param("week") || today());
  const theatreFilter = param("theatre");
  const surgeonFilter = param("surgeon");
  const sunday = addDays(monday, DAYS - 1);
  const [theatres, surgeons, sessions] = await Promise.all([
    api("theatres/", { params: { page_size: 500 } }),
    api("staff/", { params: { role: "surgeon", page_size: 500 } }),
    api("sessions/", {
      params: { date_from: monday, date_to: sunday, theatre: theatreFilter, surgeon: surgeonFilter, page_size: 500 },
    }),
  ]);

  const days = Array.from({ length: DAYS }, (_, i) => addDays(monday, i));
  const byCell = new Map();
  for (const s of sessions.results) {
    const key = `${s.theatre}|${localDate(s.start)}`;
    if (!byCell.has(key)) byCell.set(key, []);
    byCell.get(key).push(s);
  }
  // Weekends only when a list is on them, so five days fill the width at 1024 px.
  const shown = days.filter((d, i) => i < 5 || sessions.results.some((s) => localDate(s.start) === d));
  const theatreRows = theatres.results.filter((t) => (theatreFilter ? String(t.id) === theatreFilter : t.active));

  const filters = h(
    "form",
    { class: "filters", method: "get", action: "/", "aria-label": "Filter the board" },
    h("input", { type: "hidden", name: "week", value: monday }),
    field("Theatre", select("theatre", theatres.results.map((t) => [t.id, t.name]), { value: theatreFilter, blank: "All theatres" })),
    field("Surgeon", select("surgeon", surgeons.results.map((s) => [s.id, s.name]), { value: surgeonFilter, blank: "All surgeons" })),
    h("button", { type: "submit" }, "Show"),
  );

  const nav = h(
    "div",
    { class: "board-nav" },
    h("a", { class: "button", href: weekLink(addDays(monday, -7), theatreFilter, surgeonFilter), rel: "prev" }, "← Previous week"),
    h("span", { class: "week", id: "week-label" }, `Week of ${fmtShortDate(monday)}`),
    h("a", { class: "button", href: weekLink(addDays(monday, 7), theatreFilter, surgeonFilter), rel: "next" }, "Next week →"),
    h("a", { href: weekLink(mondayOf(today()), theatreFilter, surgeonFilter) }, "This week"),
  );

  const grid = h("div", {
    class: "board",
    role: "region",
    "aria-labelledby": "week-label",
    style: `grid-template-columns: 7rem repeat(${shown.length}, minmax(0, 1fr))`,
  });
  grid.append(h("div", { class: "head" }, "Theatre"));
  for (const d of shown) grid.append(h("div", { class: "head" }, fmtShortDate(d)));
  for (const t of theatreRows) {
    grid.append(h("div", { class: "theatre" }, t.name));
    for (const d of shown) {
      const lists = byCell.get(`${t.id}|${d}`) || [];
      grid.append(h("div", { class: "day" }, lists.length ? lists.map(listCard) : h("div", { class: "empty" }, "No list")));
    }
  }
  const caseCount = sessions.results.reduce((n, s) => n + s.cases.length, 0);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const summary = h("p", { class: "muted" }, `${plural(sessions.count, "list")}, ${plural(caseCount, "case")} this week.`);
  replace(root, filters, nav, summary, grid);
  document.body.dataset.ready = "board";
}

run(draw);
