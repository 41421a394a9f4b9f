// The history's search box without I/O: words or a formula, the API's snippets made safe, the offline filter.

export const MAX_QUERY_CHARS = 2000; // the notes library cuts formulas there too
export const MAX_SNIPPET_CHARS = 4000; // the API sends ~160 characters; anything longer is not a snippet

const FORMULA_MARKS = /[\\^_{]/;
const DOLLARS = /^\${1,2}([\s\S]*?)\${1,2}$/;

/** True when `text` looks like LaTeX: it has `\`, `^`, `_` or `{`, or is wrapped in `$…$` / `$$…$$`. */
export function looksLikeFormula(text) {
  const s = String(text ?? "").trim();
  return FORMULA_MARKS.test(s) || (s.length > 2 && DOLLARS.test(s));
}

/** `text` without the `$…$` / `$$…$$` around it (a formula pasted from a note). */
export function stripDollars(text) {
  const s = String(text ?? "").trim();
  const m = s.match(DOLLARS);
  return m ? m[1].trim() : s;
}

/**
 * The query parameters of `GET api/notes` for what was typed: `{formula}` or `{q}`, or `{}` for nothing.
 * `mode` is the toggle: "auto" (guess with looksLikeFormula; the library runs every mode that applies),
 * or "words", "formula", "meaning" (sent as `mode=` too, so the library runs that one only).
 */
export function searchParams(text, mode = "auto") {
  const s = String(text ?? "").trim().slice(0, MAX_QUERY_CHARS);
  if (!s) return {};
  const only = mode === "auto" ? {} : { mode };
  if (mode === "formula" || (mode === "auto" && looksLikeFormula(s))) {
    const latex = stripDollars(s);
    return latex ? { formula: latex, ...only } : {};
  }
  return { q: s, ...only };
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
// character references are text, not markup: kept, so the API's own escaping is not escaped twice
const REFERENCE = /&(?:[a-z]{2,8}|#\d{1,7}|#x[0-9a-f]{1,6});/iy;

function escapeText(text) {
  return text.replace(/[&<>"']/g, (c, at) => {
    if (c !== "&") return ESCAPES[c];
    REFERENCE.lastIndex = at;
    return REFERENCE.test(text) ? "&" : "&amp;";
  });
}

/**
 * A snippet from the API as HTML that can only contain text and `<mark>`: every character that could start
 * markup is escaped, then exactly `<mark>` and `</mark>` are allowed again (balanced; attributes, other case or
 * any other tag stay text). The API already escapes its snippets; this holds whatever a server or proxy sends.
 */
export function safeSnippet(html) {
  const parts = String(html ?? "").slice(0, MAX_SNIPPET_CHARS).split(/(<mark>|<\/mark>)/);
  let out = "";
  let open = 0;
  for (const part of parts) {
    if (part === "<mark>") {
      out += "<mark>";
      open += 1;
    } else if (part === "</mark>") {
      if (open > 0) {
        out += "</mark>";
        open -= 1;
      }
    } else {
      out += escapeText(part);
    }
  }
  return out + "</mark>".repeat(open);
}

/** Plain text of an answer's Markdown for a one-line preview. */
export function plainPreview(markdown, chars = 90) {
  return String(markdown ?? "").replace(/[#*`>|]+|\$\$/g, " ").replace(/\s+/g, " ").trim().slice(0, chars);
}

const squash = (s) => String(s ?? "").toLowerCase().replace(/\s+|\\[,;!: ]/g, "");

/**
 * The local copy's entries that match what was typed (offline search): every word for words, the formula
 * without spacing for a formula. Newest first, as stored.
 */
export function filterLocal(entries, text, mode = "auto") {
  const params = searchParams(text, mode);
  if (params.formula) {
    const want = squash(params.formula);
    return entries.filter((e) => squash(e.markdown).includes(want) || (e.latex || []).some((l) => squash(l) === want));
  }
  if (!params.q) return entries;
  const words = params.q.toLowerCase().split(/\s+/).filter(Boolean);
  return entries.filter((e) => {
    const hay = `${e.title || ""} ${e.markdown}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}
