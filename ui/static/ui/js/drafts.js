// Form drafts survive an expired session: every change is kept in sessionStorage (this tab only,
// gone when it closes) and put back when the form is drawn again after logging in.

export function keepDraft(form, key) {
  const storageKey = `ui:draft:${key}`;
  const saved = sessionStorage.getItem(storageKey);
  if (saved) {
    try {
      restore(form, JSON.parse(saved));
    } catch {
      sessionStorage.removeItem(storageKey);
    }
  }
  const save = () => sessionStorage.setItem(storageKey, JSON.stringify(snapshot(form)));
  form.addEventListener("input", save);
  form.addEventListener("change", save);
  return {
    restored: Boolean(saved),
    clear: () => sessionStorage.removeItem(storageKey),
  };
}

function snapshot(form) {
  const values = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox" || el.type === "radio") {
      values[`${el.name}=${el.value}`] = el.checked;
    } else if (el.type !== "submit" && el.type !== "password") {
      values[el.name] = el.value;
    }
  }
  return values;
}

function restore(form, values) {
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox" || el.type === "radio") {
      const key = `${el.name}=${el.value}`;
      if (key in values) el.checked = values[key];
    } else if (el.name in values && el.type !== "password") {
      el.value = values[el.name];
    }
  }
  form.dispatchEvent(new Event("draft-restored"));
}
