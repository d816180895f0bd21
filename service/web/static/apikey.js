// The API-key form: shown when the gateway answers 401, hidden again once a key is given.
import { hasApiKey, setApiKey } from "./api.js";

const form = document.getElementById("key-form");
const field = document.getElementById("api-key");
const reason = document.getElementById("key-reason");

/** Show the form; `onKey` runs after the person gave a key. A refused key is forgotten first. */
export function askForKey(onKey) {
  const refused = hasApiKey();
  setApiKey("");
  reason.textContent = refused
    ? "The gateway refused that key (wrong, revoked or rotated). Enter a valid one."
    : "This gateway needs an API key. It is kept for this tab only.";
  form.hidden = false;
  field.focus();
  form.onsubmit = (event) => {
    event.preventDefault();
    const key = field.value.trim();
    if (!key) return;
    setApiKey(key);
    field.value = "";
    form.hidden = true;
    onKey();
  };
}
