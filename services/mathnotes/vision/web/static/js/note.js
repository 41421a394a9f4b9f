// The note behind the answer on show: its thumbnail and title from the library, rename and delete.

import { ApiFailure } from "./api.js";
import { deleteNote, getNote, noteImageUrl, renameNote } from "./library.js";
import { loadApiKey, updateHistory } from "./storage.js";
import { formatWhen, t } from "./i18n.js";

/** The text of the first line of `markdown` when it is a heading. */
export function headingOf(markdown) {
  return String(markdown ?? "").trimStart().match(/^#{1,6}[ \t]+(.*?)[ \t#]*(?:\n|$)/)?.[1] ?? "";
}

/** The page's answer entry for a note of the library (what showAnswer renders). */
export function entryFromNote(note) {
  const answer = note.answer || {};
  return {
    id: answer.id || note.id,
    note_id: note.id,
    title: note.title,
    created: Date.parse(note.created_at) || Date.now(),
    task: note.task || answer.task,
    language: note.language,
    model: answer.model || note.model,
    backend: answer.backend,
    cached: false,
    markdown: typeof answer.markdown === "string" ? answer.markdown : "",
    latex: Array.isArray(answer.latex) ? answer.latex : [],
    notes: Array.isArray(answer.notes) ? answer.notes : [],
    usage: answer.usage,
    timings: answer.timings,
  };
}

/**
 * The controller. `ui` holds the view's elements; `showAnswer(entry)`, `setStatus(text)`,
 * `showError(failure)` and `changed()` (the history list is stale) come from the page.
 */
export function createNoteView({ ui, showAnswer, setStatus, showError, changed }) {
  const state = { id: null, title: "", imageUrl: null, opening: 0 };

  function setImage(url) {
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
    state.imageUrl = url;
    ui.image.hidden = !url;
    if (url) ui.image.src = url;
    else ui.image.removeAttribute("src");
  }

  function disarm() {
    delete ui.remove.dataset.armed;
    ui.remove.textContent = t("delete");
  }

  function showTitle(title, markdown = "") {
    state.title = title || "";
    ui.title.textContent = state.title;
    // not twice: a title derived from the answer is its first heading
    ui.title.hidden = !state.title || headingOf(markdown) === state.title;
    ui.view.hidden = ui.title.hidden && ui.image.hidden;
  }

  /** The answer on show (`markdown`) belongs to note `id` (null: to none); `title` when known. */
  function show(id, title = "", markdown = "") {
    state.opening += 1; // a note still loading is not wanted any more
    state.id = id || null;
    ui.actions.hidden = !state.id;
    setImage(null);
    showTitle(title, markdown);
    disarm();
  }

  /**
   * Open a note of the library: its whole answer, its title and its thumbnail. `local` (this browser's copy
   * of the same note, if any) is shown at once, then completed from the library.
   */
  async function open(summary, local = null) {
    show(local ? summary.id : null, local ? summary.title : "", local?.markdown);
    const opening = state.opening;
    if (local) {
      showAnswer(local);
      setStatus(t("reopened", { when: formatWhen(local.created) }));
    } else {
      setStatus(t("opening"));
    }
    const options = { apiKey: loadApiKey() };
    let note;
    try {
      note = await getNote(summary.id, options);
    } catch (err) {
      if (opening !== state.opening) return;
      if (err instanceof ApiFailure && err.status === 404) {
        setStatus(t("noteGone"));
        show(null);
        changed();
      } else if (!local) {
        setStatus("");
        showError(err);
      }
      return;
    }
    if (opening !== state.opening) return;
    const entry = entryFromNote(note);
    if (!local || local.markdown !== entry.markdown) showAnswer(entry);
    show(note.id, note.title, entry.markdown);
    setStatus(t("reopened", { when: formatWhen(note.created_at) }));
    if (!note.has_image) return;
    const loading = state.opening;
    try {
      const url = await noteImageUrl(note.id, options);
      if (loading === state.opening) {
        ui.view.hidden = false;
        setImage(url);
      } else if (url) URL.revokeObjectURL(url);
    } catch {
      // the answer is there; the thumbnail is a bonus
    }
  }

  function rename() {
    if (!state.id) return;
    ui.renameInput.value = state.title;
    ui.renameDialog.returnValue = "";
    ui.renameDialog.showModal();
  }

  ui.renameDialog.addEventListener("close", async () => {
    const title = ui.renameInput.value.trim();
    const id = state.id;
    if (ui.renameDialog.returnValue !== "ok" || !title || !id) return;
    try {
      const note = await renameNote(id, title, { apiKey: loadApiKey() });
      if (id !== state.id) return;
      showTitle(note.title || title);
      updateHistory((e) => e.note_id === id, { title: state.title });
      setStatus(t("renamed"));
      changed();
    } catch (err) {
      showError(err);
    }
  });

  async function remove() {
    const id = state.id;
    if (!id) return;
    if (!ui.remove.dataset.armed) {
      ui.remove.dataset.armed = "true"; // a second press deletes
      ui.remove.textContent = t("deleteConfirm");
      return;
    }
    disarm();
    try {
      await deleteNote(id, { apiKey: loadApiKey() });
    } catch (err) {
      if (!(err instanceof ApiFailure && err.status === 404)) return showError(err);
    }
    updateHistory((e) => e.note_id === id, null);
    if (id === state.id) show(null);
    setStatus(t("deleted"));
    changed();
  }

  ui.rename.addEventListener("click", rename);
  ui.remove.addEventListener("click", remove);
  ui.remove.addEventListener("blur", disarm);
  return { open, show };
}
