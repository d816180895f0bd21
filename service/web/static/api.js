// The public REST API as the page uses it. Every URL is relative, so the page also works behind a path prefix.

/** An error answer, worded as the API words it (problem+json title and detail). */
export class Problem extends Error {
  constructor({ title, detail = "", status = null, type = null }) {
    super(detail || title);
    this.title = title;
    this.detail = detail;
    this.status = status;
    this.type = type;
  }
}

// The API key, when the gateway asks for one: kept for this tab only (sessionStorage), never in a cookie or
// localStorage, and sent only to this gateway (relative URLs).
const KEY_ITEM = "classifier.apiKey";

/** Use `key` for the next calls (an empty key forgets it). */
export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

/** Whether a key is kept for this tab. */
export function hasApiKey() {
  return Boolean(sessionStorage.getItem(KEY_ITEM));
}

/** GET v1/models: every served model with its modality, labels and versions. */
export async function listModels() {
  const answer = await call("v1/models", { headers: { Accept: "application/json" } });
  return answer.models;
}

/** GET v1/models/{name}: one model, with its input limits. */
export function describeModel(name) {
  return call(`v1/models/${encodeURIComponent(name)}`, { headers: { Accept: "application/json" } });
}

/** GET v1/models/{name}/rollout: the rollout policy and comparison (admin only; refused pages hide it). */
export function rolloutOf(name) {
  return call(`v1/models/${encodeURIComponent(name)}/rollout`, { headers: { Accept: "application/json" } });
}

/** The classify URL for a model and a version choice: "" (default), "v:N" (a version) or "l:LABEL". */
export function classifyPath(name, choice = "") {
  const base = `v1/models/${encodeURIComponent(name)}`;
  if (choice.startsWith("v:")) return `${base}/versions/${encodeURIComponent(choice.slice(2))}:classify`;
  if (choice.startsWith("l:")) return `${base}/labels/${encodeURIComponent(choice.slice(2))}:classify`;
  return `${base}:classify`;
}

/**
 * POST one input to `path`. A string goes as JSON `{"instances": [{"text"}]}`; a Blob goes as the raw body with
 * its own content type, or as JSON base64 when the browser does not know its type.
 * Resolves to `{answer, ms}`, `ms` being the round trip as the browser measured it.
 */
export async function classify(path, input, topK) {
  let request;
  if (typeof input === "string") {
    request = jsonRequest(path, { instances: [{ text: input }], top_k: topK });
  } else if (input.type) {
    request = [`${path}?top_k=${encodeURIComponent(topK)}`, { method: "POST", headers: { "Content-Type": input.type }, body: input }];
  } else {
    request = jsonRequest(path, { instances: [{ b64: await toBase64(input) }], top_k: topK });
  }
  const started = performance.now();
  const answer = await call(...request);
  return { answer, ms: performance.now() - started };
}

function jsonRequest(path, body) {
  return [path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }];
}

async function call(url, init) {
  let response;
  const key = sessionStorage.getItem(KEY_ITEM);
  const auth = key ? { Authorization: `Bearer ${key}` } : {};
  try {
    response = await fetch(url, { ...init, headers: { Accept: "application/json", ...auth, ...init.headers } });
  } catch (err) {
    throw new Problem({ title: "Network error", detail: `The gateway could not be reached (${err.message}).` });
  }
  const isJson = /[/+]json\b/.test(response.headers.get("Content-Type") || "");
  const body = isJson ? await response.json().catch(() => null) : await response.text();
  if (response.ok && isJson && body !== null) return body;
  if (body && typeof body === "object" && typeof body.title === "string") {
    throw new Problem({ title: body.title, detail: body.detail ?? "", status: body.status ?? response.status, type: body.type });
  }
  throw new Problem({
    title: response.ok ? "Unexpected answer" : `HTTP ${response.status} ${response.statusText}`.trim(),
    detail: typeof body === "string" ? body.slice(0, 500) : "",
    status: response.status,
  });
}

function toBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
