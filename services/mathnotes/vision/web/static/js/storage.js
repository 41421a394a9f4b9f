// What the page keeps in localStorage: the last answers (reopenable), the API key, the last choices.

const KEY = "mathnotes.history.v1";
export const MAX_ENTRIES = 20;

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled (some private modes)
  }
}

/** Entries, newest first. */
export function loadHistory() {
  try {
    const list = JSON.parse(storage()?.getItem(KEY) || "[]");
    return Array.isArray(list) ? list.filter((e) => e && typeof e.markdown === "string") : [];
  } catch {
    return [];
  }
}

function save(list) {
  const store = storage();
  if (!store) return;
  // when the quota is full, drop the oldest entries (then the thumbnails) until it fits
  for (let keep = list.length; keep >= 0; keep--) {
    try {
      store.setItem(KEY, JSON.stringify(list.slice(0, keep)));
      return;
    } catch {
      list = list.map((e, i) => (i >= keep - 1 ? { ...e, thumb: null } : e));
    }
  }
}

/** Add an answer (replacing one with the same id) and return the new list. */
export function addToHistory(entry) {
  const list = [entry, ...loadHistory().filter((e) => e.id !== entry.id)].slice(0, MAX_ENTRIES);
  save(list);
  return list;
}

/** Change (merge `patch`) or, with `patch` null, remove the entries `match(entry)` picks. */
export function updateHistory(match, patch) {
  const list = loadHistory();
  if (!list.some(match)) return list;
  const next = patch === null ? list.filter((e) => !match(e)) : list.map((e) => (match(e) ? { ...e, ...patch } : e));
  save(next);
  return next;
}

export function clearHistory() {
  storage()?.removeItem(KEY);
}

const KEY_NAME = "mathnotes.apiKey";

/** The API key the user typed (kept in this browser only), or "". */
export function loadApiKey() {
  return storage()?.getItem(KEY_NAME) || "";
}

export function saveApiKey(key) {
  if (key) storage()?.setItem(KEY_NAME, key);
  else storage()?.removeItem(KEY_NAME);
}

const PREFS = "mathnotes.prefs.v1";

/** The last task and language chosen. */
export function loadPrefs() {
  try {
    const prefs = JSON.parse(storage()?.getItem(PREFS) || "{}");
    return prefs && typeof prefs === "object" ? prefs : {};
  } catch {
    return {};
  }
}

export function savePrefs(prefs) {
  try {
    storage()?.setItem(PREFS, JSON.stringify(prefs));
  } catch {
    // storage full or disabled: not worth bothering the user
  }
}
