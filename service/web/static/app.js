// The try-it page: choose a model, give it an input that fits its modality, classify it through the REST API
// and show the top classes, the version that answered and the round-trip time.
import { Problem, classify, classifyPath, describeModel, listModels } from "./api.js";
import { askForKey } from "./apikey.js";
import { percent, renderBars } from "./chart.js";
import { Recorder, recordingSupported } from "./recorder.js";
import { showRollout } from "./rollout.js";

const RETRY_MS = 3000; // how often the list is fetched again while a model is still loading

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("classify-form"),
  model: $("model"),
  version: $("version"),
  topK: $("top-k"),
  facts: $("model-facts"),
  modelsStatus: $("models-status"),
  panels: { none: $("panel-none"), image: $("panel-image"), audio: $("panel-audio"), text: $("panel-text") },
  imageFile: $("image-file"),
  imageDrop: $("image-drop"),
  imageFigure: $("image-figure"),
  imagePreview: $("image-preview"),
  imageName: $("image-name"),
  record: $("record"),
  recordText: $("record-text"),
  recordStatus: $("record-status"),
  audioFile: $("audio-file"),
  audioDrop: $("audio-drop"),
  audioFigure: $("audio-figure"),
  audioPlayer: $("audio-player"),
  audioName: $("audio-name"),
  text: $("text"),
  classify: $("classify"),
  busy: $("busy"),
  error: $("error"),
  result: $("result"),
  bars: $("bars"),
};

const state = {
  models: [],
  model: null, // the chosen entry of GET /v1/models
  limits: null, // its input_limits, once GET /v1/models/{name} answered
  inputs: { image: null, audio: null }, // Blob per modality; text is read from the textarea
  recorder: null,
  busy: false,
  retry: 0,
};

// -- models ----------------------------------------------------------------------------------------------------

async function loadModels() {
  clearTimeout(state.retry);
  try {
    state.models = await listModels();
  } catch (err) {
    showProblem(err);
    ui.modelsStatus.textContent = "The model list could not be loaded.";
    if (err instanceof Problem && err.status === 401) {
      askForKey(loadModels);
      return;
    }
    state.retry = setTimeout(loadModels, RETRY_MS);
    return;
  }
  const wanted = state.model?.name ?? decodeURIComponent(location.hash.slice(1));
  ui.model.replaceChildren(
    ...state.models.map((m) => {
      const option = new Option(m.modality ? `${m.name} (${m.modality})` : `${m.name} (loading…)`, m.name);
      option.disabled = !m.modality;
      return option;
    }),
  );
  const ready = state.models.filter((m) => m.modality);
  const chosen = ready.find((m) => m.name === wanted) ?? ready[0] ?? null;
  ui.model.value = chosen?.name ?? "";
  ui.model.disabled = ready.length === 0;
  if (state.models.length === 0) ui.modelsStatus.textContent = "No models are served yet.";
  else if (ready.length < state.models.length) ui.modelsStatus.textContent = "Some models are still loading.";
  else ui.modelsStatus.textContent = "";
  if (ready.length < state.models.length || state.models.length === 0) state.retry = setTimeout(loadModels, RETRY_MS);
  selectModel(chosen);
}

function selectModel(model) {
  const previous = state.model;
  state.model = model;
  if (model?.name !== previous?.name) {
    state.limits = null;
    if (model) loadLimits(model.name);
    showRollout(model, () => state.model?.name === model?.name);
    history.replaceState(null, "", model ? `#${encodeURIComponent(model.name)}` : location.pathname);
  }
  renderFacts(model);
  renderVersions(model);
  const labels = model?.labels.length || 1;
  ui.topK.max = String(labels);
  ui.topK.value = String(Math.min(Math.max(1, Number(ui.topK.value) || 5), labels));
  const modality = model?.modality ?? "none";
  for (const [name, panel] of Object.entries(ui.panels)) panel.hidden = name !== modality;
  updateButton();
}

async function loadLimits(name) {
  try {
    const details = await describeModel(name);
    if (state.model?.name === name) state.limits = details.input_limits ?? null;
  } catch {
    // The limits only shorten recordings; the API still enforces them.
  }
}

function renderFacts(model) {
  ui.facts.hidden = !model;
  if (!model) return;
  $("fact-modality").textContent = model.modality ?? "not ready";
  $("fact-default").textContent = model.default_version ?? "none";
  $("fact-labels").textContent = `${model.labels.join(", ")} (${model.labels.length})`;
}

function renderVersions(model) {
  const keep = ui.version.value;
  const options = [];
  if (model) {
    options.push(new Option(`Default (version ${model.default_version ?? "–"})`, ""));
    for (const v of model.versions) {
      const option = new Option(`Version ${v.version}${v.state === "AVAILABLE" ? "" : ` (${v.state.toLowerCase()})`}`, `v:${v.version}`);
      option.disabled = v.state !== "AVAILABLE";
      options.push(option);
    }
    for (const [label, version] of Object.entries(model.version_labels ?? {})) {
      options.push(new Option(`Label "${label}" (version ${version})`, `l:${label}`));
    }
  }
  ui.version.replaceChildren(...options);
  ui.version.value = options.some((o) => o.value === keep && !o.disabled) ? keep : "";
  ui.version.disabled = options.length <= 2; // only "default" and the one version it means
}

// -- inputs ----------------------------------------------------------------------------------------------------

function currentInput() {
  const modality = state.model?.modality;
  if (modality === "text") return ui.text.value.trim() ? ui.text.value : null;
  return modality ? state.inputs[modality] : null;
}

function useImage(file) {
  if (!file) return;
  state.inputs.image = file;
  showPreview(ui.imagePreview, ui.imageFigure, file);
  const caption = `${file.name} · ${formatBytes(file.size)}`;
  ui.imageName.textContent = caption;
  ui.imagePreview.onload = () => {
    // Tiny images (icons, digits) are enlarged with sharp pixels instead of a blur.
    ui.imagePreview.classList.toggle("pixelated", ui.imagePreview.naturalWidth < 128);
    ui.imagePreview.classList.remove("unreadable");
  };
  ui.imagePreview.onerror = () => {
    // The gateway may still read formats the browser cannot show (TIFF, for one); it has the last word.
    ui.imagePreview.classList.add("unreadable");
    ui.imageName.textContent = `${caption} · no preview`;
  };
  updateButton();
}

function useAudio(blob, caption) {
  // Files picked here are WAV by the picker's filter; say so even when the browser does not know the type.
  const wav = blob.type === "audio/wav" ? blob : new Blob([blob], { type: "audio/wav" });
  state.inputs.audio = wav;
  showPreview(ui.audioPlayer, ui.audioFigure, wav);
  ui.audioName.textContent = caption;
  updateButton();
}

function showPreview(element, figure, blob) {
  if (element.src.startsWith("blob:")) URL.revokeObjectURL(element.src);
  element.src = URL.createObjectURL(blob);
  figure.hidden = false;
}

function wireDropZone(button, picker, use) {
  button.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    use(picker.files[0]);
    picker.value = ""; // choosing the same file again still fires "change"
  });
  button.addEventListener("dragover", (event) => {
    event.preventDefault();
    button.classList.add("dragging");
  });
  button.addEventListener("dragleave", () => button.classList.remove("dragging"));
  button.addEventListener("drop", (event) => {
    event.preventDefault();
    button.classList.remove("dragging");
    use(event.dataTransfer.files[0]);
  });
}

async function toggleRecording() {
  if (state.recorder) {
    await stopRecording();
    return;
  }
  const recorder = new Recorder({
    maxSeconds: state.limits?.max_audio_seconds ?? 30,
    onProgress: (s) => (ui.recordStatus.textContent = `Recording… ${s.toFixed(1)} s`),
    onLimit: () => stopRecording(),
  });
  state.recorder = recorder;
  setRecording(true);
  ui.recordStatus.textContent = "Waiting for the microphone…";
  try {
    await recorder.start();
  } catch (err) {
    state.recorder = null;
    setRecording(false);
    ui.recordStatus.textContent = "Recording did not start.";
    showProblem(new Problem({ title: "Microphone unavailable", detail: err.message || String(err) }));
  }
}

async function stopRecording() {
  const recorder = state.recorder;
  if (!recorder) return;
  state.recorder = null;
  setRecording(false);
  const { blob, seconds } = await recorder.stop();
  ui.recordStatus.textContent = `Recorded ${seconds.toFixed(1)} s.`;
  useAudio(blob, `Recording · ${seconds.toFixed(1)} s · ${formatBytes(blob.size)}`);
}

function setRecording(on) {
  ui.record.setAttribute("aria-pressed", String(on));
  ui.record.classList.toggle("on", on);
  ui.recordText.textContent = on ? "Stop" : "Record";
  updateButton();
}

// -- classify --------------------------------------------------------------------------------------------------

async function submit(event) {
  event?.preventDefault();
  const input = currentInput();
  if (state.busy || !state.model || input === null || state.recorder) return;
  const model = state.model;
  const topK = Math.min(Math.max(1, Math.round(Number(ui.topK.value)) || 1), model.labels.length);
  state.busy = true;
  ui.form.setAttribute("aria-busy", "true");
  ui.busy.textContent = "Classifying…";
  updateButton();
  try {
    const { answer, ms } = await classify(classifyPath(model.name, ui.version.value), input, topK);
    showResult(answer, ms);
  } catch (err) {
    showProblem(err);
    if (err instanceof Problem && err.status === 401) askForKey(() => submit());
  } finally {
    state.busy = false;
    ui.form.removeAttribute("aria-busy");
    updateButton();
  }
}

function showResult(answer, ms) {
  const prediction = answer.predictions[0];
  $("result-model").textContent = answer.model;
  $("result-version").textContent = answer.version;
  $("result-latency").textContent = `${Math.round(ms)} ms`;
  renderBars(ui.bars, prediction.top_k);
  ui.error.hidden = true;
  ui.result.hidden = false;
  ui.busy.textContent = `Most likely: ${prediction.label}, ${percent(prediction.score)}.`;
}

function showProblem(err) {
  const problem = err instanceof Problem ? err : new Problem({ title: "Unexpected error", detail: String(err) });
  $("error-title").textContent = problem.title;
  $("error-detail").textContent = problem.detail;
  $("error-status").textContent = problem.status ? `HTTP ${problem.status}` : "";
  ui.result.hidden = true;
  ui.error.hidden = false;
  ui.busy.textContent = "";
}

function updateButton() {
  ui.classify.disabled = state.busy || Boolean(state.recorder) || currentInput() === null;
}

function formatBytes(n) {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

// -- wiring ----------------------------------------------------------------------------------------------------

ui.form.addEventListener("submit", submit);
ui.model.addEventListener("change", () => selectModel(state.models.find((m) => m.name === ui.model.value) ?? null));
ui.text.addEventListener("input", updateButton);
ui.text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) submit(event);
});
wireDropZone(ui.imageDrop, ui.imageFile, useImage);
wireDropZone(ui.audioDrop, ui.audioFile, (file) => file && useAudio(file, `${file.name} · ${formatBytes(file.size)}`));
if (recordingSupported()) {
  ui.record.addEventListener("click", toggleRecording);
} else {
  ui.record.disabled = true;
  ui.recordStatus.textContent = "Recording needs a secure page (HTTPS or localhost); choose a WAV file instead.";
}
// A file dropped next to a drop zone must not replace the page.
for (const type of ["dragover", "drop"]) window.addEventListener(type, (event) => event.preventDefault());

loadModels();
