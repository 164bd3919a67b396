// Building the page from data without innerHTML: every string becomes a text node, so nothing a
// user typed (a name, a note) can ever run as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

let counter = 0;
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled form field. `control` is an <input>/<select>/<textarea> (given an id here).
export function field(labelText, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field", dataset: { field: control.name || "" } }, h("label", { for: id }, labelText), hintEl, control);
}

export function select(name, options, { value = "", blank = null, ...attrs } = {}) {
  const el = h("select", { name, ...attrs });
  if (blank !== null) el.append(h("option", { value: "" }, blank));
  for (const [optValue, label] of options) {
    const option = h("option", { value: optValue }, label);
    if (String(optValue) === String(value)) option.selected = true;
    el.append(option);
  }
  return el;
}
