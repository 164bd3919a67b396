// Times as a coordinator reads them, in the site's zone (the page's data-tz, from TIME_ZONE):
// "Tue 15 Dec, 08:30". Storage and the API are UTC with offsets; only display converts.

const zone = () => document.body.dataset.tz || "Europe/London";

// Building an Intl.DateTimeFormat is costly and a board formats hundreds of times: keep each one.
const formatters = new Map();

function parts(iso, options) {
  const key = JSON.stringify(options);
  let formatter = formatters.get(key);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-GB", { timeZone: zone(), ...options });
    formatters.set(key, formatter);
  }
  return Object.fromEntries(formatter.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const p = parts(iso, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  return `${p.hour}:${p.minute}`;
}

export function fmtDay(iso) {
  if (!iso) return "—";
  const p = parts(iso, { weekday: "short", day: "numeric", month: "short" });
  return `${p.weekday} ${p.day} ${p.month}`;
}

export function fmtDateTime(iso) {
  if (!iso) return "—";
  return `${fmtDay(iso)}, ${fmtTime(iso)}`;
}

// A plain date ("2026-12-15") is a day, not an instant: format it without any zone shift.
export function fmtDate(dateStr) {
  if (!dateStr) return "—";
  const d = dateFromISO(dateStr);
  return new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", year: "numeric" }).format(d);
}

export function fmtShortDate(dateStr) {
  const d = dateFromISO(dateStr);
  return new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short" }).format(d);
}

// The local calendar date of an instant in the site's zone, as YYYY-MM-DD.
export function localDate(iso) {
  const p = parts(iso, { year: "numeric", month: "2-digit", day: "2-digit" });
  return `${p.year}-${p.month}-${p.day}`;
}

export function today() {
  return localDate(new Date().toISOString());
}

export function dateFromISO(dateStr) {
  const [y, m, d] = dateStr.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

export function isoDate(date) {
  return date.toISOString().slice(0, 10);
}

export function addDays(dateStr, days) {
  const d = dateFromISO(dateStr);
  d.setUTCDate(d.getUTCDate() + days);
  return isoDate(d);
}

export function mondayOf(dateStr) {
  const d = dateFromISO(dateStr);
  const shift = (d.getUTCDay() + 6) % 7; // Monday = 0
  return addDays(dateStr, -shift);
}

export function daysBetween(fromStr, toStr) {
  return Math.round((dateFromISO(toStr) - dateFromISO(fromStr)) / 86_400_000);
}

export function fmtWait(referralDate) {
  const days = daysBetween(referralDate, today());
  if (days < 14) return `${days} day${days === 1 ? "" : "s"}`;
  return `${Math.floor(days / 7)} weeks`;
}

export function fmtMinutes(minutes) {
  if (minutes === null || minutes === undefined) return "—";
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min`;
}

export function fmtPercent(value, digits = 0) {
  if (value === null || value === undefined) return "—";
  return `${Number(value).toFixed(digits)}%`;
}

const WORDS = {
  kyphoplasty: "Kyphoplasty",
  vertebroplasty: "Vertebroplasty",
  general: "General anaesthesia",
  local_sedation: "Local with sedation",
  unipedicular: "Unipedicular",
  bipedicular: "Bipedicular",
  sign_in: "Sign in",
  time_out: "Time out",
  sign_out: "Sign out",
  in_theatre: "In theatre",
  not_applicable: "Not applicable",
};

export function words(code) {
  if (code === null || code === undefined || code === "") return "—";
  return WORDS[code] || String(code).replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());
}

// A wall-clock time typed on a list's local date ("09:30" on "2026-12-02"), as an instant with an
// offset for the API. The zone's offset is read from Intl twice, which settles it across a clock change.
export function zonedISO(dateStr, timeStr) {
  const [y, m, d] = dateStr.split("-").map(Number);
  const [hh, mm] = timeStr.split(":").map(Number);
  const wanted = Date.UTC(y, m - 1, d, hh, mm);
  let guess = wanted;
  for (let i = 0; i < 2; i += 1) {
    const p = parts(new Date(guess).toISOString(), { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    guess += wanted - Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute));
  }
  return new Date(guess).toISOString();
}
