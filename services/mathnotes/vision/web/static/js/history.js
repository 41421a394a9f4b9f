// The history panel: the server's notes library when it answers (searchable by words or a formula),
// else the answers kept in this browser, saying which one is shown.

import { clearHistory, loadApiKey, loadHistory } from "./storage.js";
import { listNotes, noteImageUrl } from "./library.js";
import { filterLocal, plainPreview, safeSnippet, searchParams } from "./search.js";
import { formatWhen, t } from "./i18n.js";
import { mathHtml } from "./render.js";

export const PAGE_SIZE = 20;
const SEARCH_DELAY_MS = 300; // typing pauses this long before the library is asked
const THUMB_FETCHES = 2; // thumbnails fetched at a time
const PENDING_MS = 120_000; // an answer of this browser missing from the library is "being saved" this long
const PENDING_RETRIES = 5; // the list is asked for again this many times while one is being saved
const PENDING_RETRY_MS = 1000;

// why the local copy is shown instead of the library, by HTTP status (0: no answer at all)
const REASONS = { 0: "offline", 401: "key", 403: "key", 404: "absent", 503: "unavailable" };

/**
 * The panel's controller. `ui` holds its elements; `openLibrary(note)` and `openLocal(entry)` show a note;
 * `askForKey()` asks for the API key (resolves true when one was given).
 */
export function createHistory({ ui, openLibrary, openLocal, askForKey }) {
  const state = { generation: 0, controller: null, timer: 0, cursor: null, params: {}, blobs: [], retries: 0 };

  function setSource(source, reason = "", message = "") {
    ui.history.dataset.source = source;
    ui.history.dataset.reason = reason;
    ui.source.textContent = source === "library" ? t("src_library") : t(`src_${reason}`, { message });
    ui.key.hidden = reason !== "key";
    ui.clear.hidden = source === "library"; // Clear empties this browser's copy only
  }

  function forgetThumbs() {
    for (const url of state.blobs) URL.revokeObjectURL(url);
    state.blobs = [];
  }

  function item({ id, title, when, thumb, html, text, formula, matched, onOpen }) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "history-item";
    button.dataset.id = id;
    const img = document.createElement("img");
    img.alt = "";
    img.hidden = !thumb;
    if (thumb) img.src = thumb;
    const body = document.createElement("span");
    body.className = "history-text";
    const strong = document.createElement("strong");
    strong.textContent = title;
    const meta = document.createElement("span");
    meta.className = "when";
    meta.textContent = when;
    const snippet = document.createElement("span");
    snippet.className = "snippet";
    if (html != null) snippet.innerHTML = html; // safeSnippet: text and <mark> only
    else snippet.textContent = text;
    body.append(strong, meta, snippet);
    if (matched?.length) {
      const by = document.createElement("span");
      by.className = "matched";
      by.textContent = t("matchedBy", { modes: matched.map((m) => t(`matched_${m}`)).join(", ") });
      body.append(by);
    }
    if (formula) {
      const math = document.createElement("span");
      math.className = "formula";
      math.innerHTML = mathHtml(formula, false); // KaTeX escapes the source; trust is off
      body.append(math);
    }
    button.append(img, body);
    button.addEventListener("click", onOpen);
    li.append(button);
    return li;
  }

  const when = (task, date) => `${t(`task_${task}`)} · ${formatWhen(date)}`;

  function libraryItem(note, thumbs) {
    const local = thumbs.get(note.id);
    const li = item({
      id: note.id, title: note.title || t("untitled"), when: when(note.task, note.created_at), thumb: local,
      html: safeSnippet(note.snippet), formula: note.matched?.includes("formula") ? note.formulas?.[0] : null,
      matched: (note.matched || []).filter((m) => ["words", "formula", "meaning"].includes(m)),
      onOpen: () => openLibrary(note),
    });
    li.firstChild.dataset.source = "library";
    li.firstChild.dataset.matched = (note.matched || []).join(" ");
    return { li, wantsThumb: !local && note.has_image };
  }

  function localItem(entry) {
    const li = item({
      id: entry.id, title: entry.title || t(`task_${entry.task}`), when: when(entry.task, entry.created),
      thumb: entry.thumb, text: plainPreview(entry.markdown), onOpen: () => openLocal(entry),
    });
    li.firstChild.dataset.source = "local";
    if (entry.note_id) li.firstChild.dataset.noteId = entry.note_id;
    return li;
  }

  async function fetchThumbs(items, generation) {
    const queue = [...items];
    const worker = async () => {
      while (queue.length && generation === state.generation) {
        const { li, id } = queue.shift();
        try {
          const url = await noteImageUrl(id, { apiKey: loadApiKey() });
          if (!url) continue;
          if (generation !== state.generation) return URL.revokeObjectURL(url);
          state.blobs.push(url);
          const img = li.querySelector("img");
          img.src = url;
          img.hidden = false;
        } catch {
          // a list without a thumbnail is still a list
        }
      }
    };
    await Promise.all(Array.from({ length: THUMB_FETCHES }, worker));
  }

  function showEmpty(count) {
    const searching = Boolean(ui.query.value.trim());
    ui.empty.textContent = searching ? t("noMatches") : t("historyEmpty");
    ui.empty.hidden = count > 0;
    ui.clear.disabled = !loadHistory().length;
  }

  // the library's notes (appended to the list with `more`); answers of this browser not yet in the library
  // (its writer saves them a moment after the answer) lead the newest-first list
  function renderLibrary(page, more, generation) {
    const local = loadHistory();
    const thumbs = new Map(local.filter((e) => e.note_id && e.thumb).map((e) => [e.note_id, e.thumb]));
    const rows = page.notes.map((note) => ({ id: note.id, ...libraryItem(note, thumbs) }));
    if (!more) {
      forgetThumbs();
      const listed = new Set(page.notes.map((n) => n.id));
      const newest = page.notes.length ? Date.parse(page.notes[0].created_at) : 0;
      const pending = Object.keys(state.params).length
        ? []
        : local.filter((e) => e.note_id && !listed.has(e.note_id) && e.created > Math.max(newest, Date.now() - PENDING_MS))
          .map(localItem);
      ui.list.replaceChildren(...pending, ...rows.map((r) => r.li));
      // ask again shortly (a few times) for the ones being saved
      state.retries = pending.length ? state.retries + 1 : 0;
      if (pending.length && state.retries <= PENDING_RETRIES) state.timer = setTimeout(refresh, PENDING_RETRY_MS);
    } else {
      ui.list.append(...rows.map((r) => r.li));
    }
    state.cursor = page.next_cursor || null;
    ui.more.hidden = !state.cursor;
    showEmpty(ui.list.children.length);
    fetchThumbs(rows.filter((r) => r.wantsThumb), generation);
  }

  function renderLocal(reason, message = "") {
    forgetThumbs();
    const entries = filterLocal(loadHistory(), ui.query.value, ui.mode.value);
    setSource("local", reason, message);
    ui.list.replaceChildren(...entries.map(localItem));
    ui.more.hidden = true;
    state.cursor = null;
    showEmpty(entries.length);
  }

  /** Ask the library again (the first page, or the next one with `more`); fall back to the local copy. */
  async function refresh({ more = false } = {}) {
    clearTimeout(state.timer);
    state.controller?.abort();
    const controller = new AbortController();
    state.controller = controller;
    const generation = ++state.generation;
    if (!more) state.params = searchParams(ui.query.value, ui.mode.value);
    ui.history.setAttribute("aria-busy", "true");
    ui.problem.hidden = true;
    try {
      const params = { ...state.params, limit: PAGE_SIZE, cursor: more ? state.cursor : null };
      const page = await listNotes(params, { apiKey: loadApiKey(), signal: controller.signal });
      if (generation !== state.generation) return;
      setSource("library");
      renderLibrary(page, more, generation);
    } catch (err) {
      if (err?.name === "AbortError" || generation !== state.generation) return;
      if (err.status === 400) {
        ui.problem.textContent = t("badQuery", { message: err.error?.message || "" });
        ui.problem.hidden = false; // the library answers; the query was wrong
        return;
      }
      renderLocal(REASONS[err.status] || "error", err.error?.message || `HTTP ${err.status}`);
    } finally {
      if (generation === state.generation) {
        ui.history.setAttribute("aria-busy", "false");
        ui.history.dataset.searched = JSON.stringify(state.params); // what was last asked, and when
        ui.history.dataset.generation = String(generation);
      }
    }
  }

  function later() {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => refresh(), SEARCH_DELAY_MS);
  }

  function toggle(open = ui.history.hidden) {
    ui.history.hidden = !open;
    ui.toggle.setAttribute("aria-expanded", String(open));
    if (open) refresh();
    return open;
  }

  ui.toggle.addEventListener("click", () => toggle());
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  ui.query.addEventListener("input", later);
  ui.mode.addEventListener("change", () => refresh());
  ui.more.addEventListener("click", () => refresh({ more: true }));
  ui.key.addEventListener("click", async () => {
    if (await askForKey()) refresh();
  });
  ui.clear.addEventListener("click", () => {
    clearHistory();
    refresh();
  });

  /** Refresh when the panel is open (after an answer, a rename, a delete). */
  const changed = () => (ui.history.hidden ? undefined : refresh());
  return { refresh, toggle, changed };
}
