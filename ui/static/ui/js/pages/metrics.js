// The theatre-utilisation report (Model Hospital definitions) as a table, and a chart of capped
// utilisation per group drawn as inline SVG (no chart library to vendor or keep up to date).
import { api } from "../api.js";
import { h, replace, field, select } from "../dom.js";
import { addDays, fmtDate, today, fmtPercent } from "../format.js";
import { run, param } from "../page.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function chart(rows) {
  const barH = 26;
  const gap = 10;
  const left = 210;
  const width = 760;
  const plot = width - left - 60;
  const height = rows.length * (barH + gap) + 50;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": "chart-title chart-desc" });
  svg.append(s("title", { id: "chart-title" }, "Capped utilisation by group"));
  svg.append(s("desc", { id: "chart-desc" }, rows.map((r) => `${r.label}: ${fmtPercent(r.capped_utilisation, 1)}`).join("; ")));
  for (const pct of [0, 25, 50, 75, 100]) {
    const x = left + (plot * pct) / 100;
    svg.append(s("line", { x1: x, x2: x, y1: 10, y2: height - 30, stroke: "#c9d0d8" }));
    svg.append(s("text", { x, y: height - 12, "text-anchor": "middle" }, `${pct}%`));
  }
  // 85%: the utilisation NHS England's theatre programme (GIRFT) aims for.
  const target = left + plot * 0.85;
  svg.append(s("line", { x1: target, x2: target, y1: 10, y2: height - 30, stroke: "#8a4b00", "stroke-dasharray": "4 3", "stroke-width": 2 }));
  svg.append(s("text", { x: target + 4, y: 20, fill: "#8a4b00" }, "85% aim"));
  rows.forEach((r, i) => {
    const y = 20 + i * (barH + gap);
    const capped = r.capped_utilisation ?? 0;
    const uncapped = r.uncapped_utilisation ?? 0;
    svg.append(s("text", { x: left - 8, y: y + barH / 2 + 4, "text-anchor": "end" }, r.label.length > 30 ? `…${r.label.slice(-29)}` : r.label));
    svg.append(s("rect", { x: left, y, width: (plot * Math.min(uncapped, 120)) / 100, height: barH, fill: "#c8dbef" }));
    svg.append(s("rect", { x: left, y: y + 4, width: (plot * Math.min(capped, 100)) / 100, height: barH - 8, fill: "#005eb8" }));
    svg.append(s("text", { x: left + (plot * Math.min(Math.max(capped, uncapped), 120)) / 100 + 6, y: y + barH / 2 + 4 }, r.capped_utilisation === null ? "no lists" : fmtPercent(capped, 1)));
  });
  return svg;
}

const COLUMNS = [
  ["Lists", (r) => r.lists],
  ["Planned min", (r) => r.planned_minutes],
  ["Capped util.", (r) => fmtPercent(r.capped_utilisation, 1)],
  ["Uncapped util.", (r) => fmtPercent(r.uncapped_utilisation, 1)],
  ["Late starts", (r) => `${r.late_starts.count} (${r.late_starts.minutes} min)`],
  ["Early finishes", (r) => `${r.early_finishes.count} (${r.early_finishes.minutes} min)`],
  ["Overruns", (r) => `${r.overruns.count} (${r.overruns.minutes} min)`],
  ["Cases", (r) => r.cases],
  ["Cases/list", (r) => r.cases_per_list ?? "—"],
  ["On-the-day cancellations", (r) => r.on_the_day_cancellations.count],
  ["Lists missing times", (r) => r.lists_missing_times],
];

async function draw(root) {
  const dateTo = param("date_to") || today();
  const dateFrom = param("date_from") || addDays(dateTo, -27);
  const groupBy = param("group_by") || "theatre";
  const report = await api("reports/theatre-utilisation/", { params: { date_from: dateFrom, date_to: dateTo, group_by: groupBy } });
  const filters = h(
    "form",
    { class: "filters", method: "get", action: "/metrics/", "aria-label": "Report period" },
    field("From", h("input", { type: "date", name: "date_from", value: dateFrom })),
    field("To", h("input", { type: "date", name: "date_to", value: dateTo })),
    field("Group by", select("group_by", [["theatre", "Theatre"], ["surgeon", "Surgeon"], ["site", "Site"], ["week", "Week"], ["day", "Day"]], { value: groupBy })),
    h("button", { type: "submit" }, "Show"),
    h("a", { class: "button", href: `/api/v1/reports/theatre-utilisation/?date_from=${dateFrom}&date_to=${dateTo}&group_by=${groupBy}&format=csv` }, "Download CSV"),
  );
  const row = (r, header) => h("tr", {}, h(header ? "th" : "td", header ? { scope: "row" } : {}, r.label), COLUMNS.map(([, get]) => h("td", { class: "num" }, get(r))));
  const table = h(
    "table",
    { id: "metrics-table" },
    h("caption", { class: "muted" }, `${fmtDate(report.date_from)} to ${fmtDate(report.date_to)}; utilisation is Σ touch ÷ Σ planned minutes (Model Hospital)`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Group"), COLUMNS.map(([t]) => h("th", { scope: "col", class: "num" }, t)))),
    h("tbody", {}, report.rows.map((r) => row(r, true))),
    h("tfoot", {}, row({ ...report.totals, label: "All" }, true)),
  );
  replace(
    root,
    filters,
    report.rows.length ? chart(report.rows) : h("p", { class: "muted" }, "No lists in this period."),
    h("p", { class: "muted" }, "Dark bar: capped utilisation (touch time inside the list's hours). Light bar: uncapped, overruns included."),
    h("div", { class: "table-wrap" }, table),
  );
  document.body.dataset.ready = "metrics";
}

run(draw);
