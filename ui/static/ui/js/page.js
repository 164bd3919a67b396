// What every page does: draw into #app, and show a failure to load plainly instead of a blank page.
import { errorMessage } from "./api.js";
import { replace } from "./dom.js";

export const app = () => document.getElementById("app");

export async function run(draw) {
  try {
    await draw(app());
    // Drawn, with its handlers bound: what bench/ui_board.py reads as time to interactive.
    performance.mark("ui-ready");
  } catch (error) {
    if (error.code === "not_authenticated") return; // on its way to the login page
    replace(app(), errorMessage(error, "This page could not be loaded. "));
    console.error(error);
  }
}

export function setTitle(text) {
  document.getElementById("page-title").textContent = text;
  document.title = `${text} · Spinal theatres`;
}

export function param(name) {
  return new URLSearchParams(location.search).get(name) || "";
}
