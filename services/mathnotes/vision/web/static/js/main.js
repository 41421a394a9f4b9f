// The phone page: pick or shoot an image, stream the answer, render Markdown and math.

import { ApiFailure, analyze } from "./api.js";
import { describeError } from "./errors.js";
import { addToHistory, loadApiKey, loadHistory, loadPrefs, saveApiKey, savePrefs } from "./storage.js";
import { formatWhen, t, translatePage } from "./i18n.js";
import { formatBytes, prepareUpload, thumbnail } from "./image.js";
import { latexOf, renderMarkdown } from "./render.js";
import { createHistory } from "./history.js";
import { createNoteView } from "./note.js";

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("form"), drop: $("drop"), camera: $("camera"), file: $("file"), preview: $("preview"),
  info: $("image-info"), task: $("task"), language: $("language"), submit: $("submit"), stop: $("stop"),
  status: $("status"), notice: $("notice"), answer: $("answer"), meta: $("meta"),
  copyMd: $("copy-md"), copyLatex: $("copy-latex"),
  keyDialog: $("key-dialog"), keyInput: $("key-input"), output: document.querySelector(".output"),
};

const state = {
  image: null, // {blob, name}
  previewUrl: null,
  controller: null,
  markdown: "",
  latex: [],
  pending: false,
};

// --- image in ----------------------------------------------------------------------

async function useImage(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showNotice(t("notImage"), "error");
    return;
  }
  hideNotice();
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  ui.preview.src = state.previewUrl;
  ui.preview.alt = t("previewAlt");
  ui.preview.hidden = false;
  ui.drop.classList.add("has-image");
  const name = file.name || "photo";
  const prepared = await prepareUpload(file);
  state.image = { blob: prepared.blob, name: prepared.shrunk ? name.replace(/\.\w+$/, "") + ".jpg" : name };
  ui.info.textContent = prepared.shrunk
    ? t("imageShrunk", {
      name,
      from: `${prepared.from.width}×${prepared.from.height}, ${formatBytes(file.size)}`,
      to: `${prepared.width}×${prepared.height}, ${formatBytes(prepared.blob.size)}`,
    })
    : t("imageInfo", { name, size: formatBytes(file.size) });
  ui.drop.dataset.upload = prepared.shrunk ? "shrunk" : "original";
  ui.submit.disabled = false;
}

ui.preview.addEventListener("error", () => {
  ui.preview.hidden = true; // a format this browser cannot show (HEIC in Chrome): the server still reads it
});

for (const input of [ui.camera, ui.file]) {
  input.addEventListener("change", () => {
    useImage(input.files?.[0]);
    input.value = ""; // choosing the same file again still fires
  });
}

document.addEventListener("paste", (event) => {
  const item = [...(event.clipboardData?.items || [])].find((i) => i.kind === "file" && i.type.startsWith("image/"));
  if (item) {
    event.preventDefault();
    useImage(item.getAsFile());
  }
});

for (const name of ["dragenter", "dragover"]) {
  ui.drop.addEventListener(name, (event) => {
    event.preventDefault();
    ui.drop.classList.add("dragging");
  });
}
for (const name of ["dragleave", "drop"]) {
  ui.drop.addEventListener(name, () => ui.drop.classList.remove("dragging"));
}
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = [...(event.dataTransfer?.files || [])].find((f) => f.type.startsWith("image/"));
  if (file) useImage(file);
  else showNotice(t("notImage"), "error");
});

// --- answer out --------------------------------------------------------------------

const narrow = () => matchMedia("(max-width: 899px)").matches;

let frame = 0;
function scheduleRender() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    ui.answer.innerHTML = renderMarkdown(state.markdown);
  });
}

function setStatus(text) {
  ui.status.textContent = text;
}

function showNotice(text, kind) {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = false;
}

function hideNotice() {
  ui.notice.hidden = true;
  ui.notice.textContent = "";
  delete ui.notice.dataset.kind;
  delete ui.notice.dataset.code;
}

function setBusy(busy) {
  state.pending = busy;
  ui.submit.disabled = busy || !state.image;
  ui.stop.hidden = !busy;
  ui.answer.setAttribute("aria-busy", String(busy));
  document.body.classList.toggle("busy", busy);
}

function showAnswer(entry) {
  state.markdown = entry.markdown || "";
  state.latex = entry.latex?.length ? entry.latex : latexOf(state.markdown);
  if (frame) cancelAnimationFrame(frame);
  frame = 0;
  ui.answer.innerHTML = renderMarkdown(state.markdown);
  ui.copyMd.disabled = !state.markdown;
  ui.copyLatex.disabled = !state.latex.length;
  const bits = [];
  if (entry.model) {
    const seconds = ((entry.timings?.total_ms ?? 0) / 1000).toFixed(1);
    bits.push(t("metaLine", { model: entry.model, seconds }));
  }
  if (entry.usage?.total_tokens) bits.push(t("tokens", { n: entry.usage.total_tokens }));
  if (entry.cached) bits.push(t("cached"));
  ui.meta.textContent = bits.join(" · ");
  if (entry.backend === "ocr") {
    showNotice(t("offline"), "offline"); // the server's notes say the same, in English only
  } else if (entry.notes?.length) {
    showNotice(entry.notes.join(" "), "info");
  }
}

function showFailure(err) {
  const failure = err instanceof ApiFailure ? err : new ApiFailure(0, { code: "network", message: String(err) });
  showNotice(describeError(failure.status, failure.error, failure.wait), "error");
  ui.notice.dataset.code = failure.error.code || "";
}

async function run() {
  if (!state.image || state.pending) return;
  hideNotice();
  noteView.show(null);
  state.markdown = "";
  state.latex = [];
  ui.answer.innerHTML = "";
  ui.meta.textContent = "";
  ui.copyMd.disabled = ui.copyLatex.disabled = true;
  setBusy(true);
  setStatus(t("sending"));
  if (narrow()) ui.output.scrollIntoView({ block: "start" }); // watch it stream in
  state.controller = new AbortController();
  const image = state.image;
  const task = ui.task.value;
  const language = ui.language.value;
  try {
    const answer = await analyze({
      image: image.blob, filename: image.name, task, language,
      apiKey: loadApiKey(), signal: state.controller.signal,
      onOpen: () => setStatus(t("thinking")),
      onDelta: (text) => {
        if (!state.markdown) setStatus(t("streaming"));
        state.markdown += text;
        scheduleRender();
      },
    });
    const entry = {
      id: answer.id || `local_${Date.now()}`,
      note_id: typeof answer.note_id === "string" ? answer.note_id : null, // kept in the library under this id
      created: Date.now(),
      task: answer.task || task,
      language,
      model: answer.model,
      backend: answer.backend,
      cached: answer.cached,
      markdown: answer.markdown ?? state.markdown,
      latex: answer.latex || [],
      notes: answer.notes || [],
      usage: answer.usage,
      timings: answer.timings,
      thumb: await thumbnail(image.blob),
    };
    showAnswer(entry);
    noteView.show(entry.note_id);
    addToHistory(entry);
    panel.changed();
    setStatus(t("done"));
  } catch (err) {
    if (err?.name === "AbortError") {
      setStatus(t("stopped"));
      scheduleRender();
    } else if (err instanceof ApiFailure && err.status === 401) {
      setStatus("");
      setBusy(false);
      if (await askForKey(Boolean(loadApiKey()))) return await run();
      showNotice(t("keyNeeded"), "error");
      ui.notice.dataset.code = "unauthorized";
    } else {
      setStatus("");
      showFailure(err);
      if (state.markdown) scheduleRender();
    }
  } finally {
    state.controller = null;
    setBusy(false);
  }
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
ui.stop.addEventListener("click", () => state.controller?.abort());

// --- API key (asked for once, when the server answers 401) ---------------------------

function askForKey(rejected) {
  return new Promise((resolve) => {
    ui.keyInput.value = "";
    ui.keyDialog.querySelector("p").textContent = rejected ? t("err_unauthorized") + " " + t("keyText") : t("keyText");
    ui.keyDialog.addEventListener("close", function onClose() {
      ui.keyDialog.removeEventListener("close", onClose);
      const key = ui.keyInput.value.trim();
      if (ui.keyDialog.returnValue === "ok" && key) {
        saveApiKey(key);
        resolve(true);
      } else {
        resolve(false);
      }
    });
    ui.keyDialog.showModal();
  });
}

// --- copy --------------------------------------------------------------------------

async function copy(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    const area = document.createElement("textarea"); // http:// pages have no clipboard API
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    ok = document.execCommand("copy");
    area.remove();
  }
  setStatus(ok ? t("copied") : t("copyFailed"));
  button.dataset.copied = String(ok);
}

ui.copyMd.addEventListener("click", () => copy(state.markdown, ui.copyMd));
ui.copyLatex.addEventListener("click", () => copy(state.latex.join("\n"), ui.copyLatex));

// --- history: the notes library, or this browser's copy ----------------------------

const noteView = createNoteView({
  ui: {
    view: $("note-view"), image: $("note-image"), title: $("note-title"), actions: $("note-actions"),
    rename: $("note-rename"), remove: $("note-delete"), renameDialog: $("rename-dialog"), renameInput: $("rename-input"),
  },
  showAnswer: (entry) => {
    hideNotice();
    showAnswer(entry);
    if (narrow()) ui.output.scrollIntoView({ block: "start" });
  },
  setStatus,
  showError: showFailure,
  changed: () => panel.changed(),
});

/** A note of the library: this browser's copy of it at once, if there is one, then the library's. */
function openNote(note) {
  noteView.open(note, loadHistory().find((e) => e.note_id === note.id) || null);
}

const panel = createHistory({
  ui: {
    history: $("history"), toggle: $("history-toggle"), list: $("history-list"), empty: $("history-empty"),
    clear: $("history-clear"), form: $("history-search"), query: $("history-q"), mode: $("history-mode"),
    source: $("history-source"), key: $("history-key"), more: $("history-more"), problem: $("history-problem"),
  },
  openLibrary: openNote,
  openLocal: (entry) => {
    hideNotice();
    showAnswer(entry);
    noteView.show(entry.note_id, entry.title);
    setStatus(t("reopened", { when: formatWhen(entry.created) }));
    if (narrow()) ui.output.scrollIntoView({ block: "start" });
  },
  askForKey: () => askForKey(Boolean(loadApiKey())),
});

// --- start -------------------------------------------------------------------------

translatePage();
const prefs = loadPrefs();
for (const select of [ui.task, ui.language]) {
  if ([...select.options].some((o) => o.value === prefs[select.id])) select.value = prefs[select.id];
  select.addEventListener("change", () => savePrefs({ task: ui.task.value, language: ui.language.value }));
}
// a wide screen has a column for the history beside the answer
if (matchMedia("(min-width: 1200px)").matches) panel.toggle(true);
// a link to one note (`…/#note=<id>`, as the Open WebUI tool writes them) opens it
function openLinkedNote() {
  const id = location.hash.match(/^#note=([0-9a-f]{32})$/)?.[1];
  if (id) openNote({ id });
}
addEventListener("hashchange", openLinkedNote);
openLinkedNote();
document.body.dataset.ready = "true";
