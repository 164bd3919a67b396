// The login page says why the user is here when their session expired mid-work.
import { EXPIRED_KEY } from "./api.js";

if (sessionStorage.getItem(EXPIRED_KEY)) {
  sessionStorage.removeItem(EXPIRED_KEY);
  const note = document.getElementById("expired");
  note.textContent = "Your session expired. Log in again to carry on: forms you had started are kept.";
  note.hidden = false;
}
