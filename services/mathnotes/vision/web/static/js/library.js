// The notes library of the server (GET/PATCH/DELETE api/notes…), with the same bearer key as analyze.

import { ApiFailure, authHeaders, errorFrom } from "./api.js";

export const NOTES = "api/notes"; // relative, like the analyze endpoint

const noteUrl = (id) => `${NOTES}/${encodeURIComponent(id)}`;

// no-store throughout: the browser's cache keys on the URL, not the key, and a note is its owner's only
async function call(url, { apiKey, signal, method = "GET", body } = {}) {
  const headers = { Accept: "application/json", ...authHeaders(apiKey) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, signal, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiFailure(0, { code: "network", message: String(err?.message || err) });
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

async function json(response) {
  try {
    return await response.json();
  } catch {
    throw new ApiFailure(response.status, { code: "bad_response", message: "the answer was not JSON" });
  }
}

/** One page of notes: newest first, or ranked for `q` / `formula`. Resolves `{notes, next_cursor, modes}`. */
export async function listNotes(params, { apiKey, signal } = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value != null && value !== "") query.set(name, value);
  const page = await json(await call(`${NOTES}?${query}`, { apiKey, signal }));
  if (!page || !Array.isArray(page.notes)) {
    throw new ApiFailure(200, { code: "bad_response", message: "no notes in the answer" });
  }
  return page;
}

/** One note with its whole answer. */
export async function getNote(id, options = {}) {
  return json(await call(noteUrl(id), options));
}

/** A blob: URL of the note's thumbnail (revoke it when done), or null when there is none. */
export async function noteImageUrl(id, options = {}) {
  const response = await call(`${noteUrl(id)}/image`, options);
  const blob = await response.blob();
  return blob.type.startsWith("image/") && blob.size ? URL.createObjectURL(blob) : null;
}

/** Change the title; resolves the note. */
export async function renameNote(id, title, options = {}) {
  return json(await call(noteUrl(id), { ...options, method: "PATCH", body: { title } }));
}

export async function deleteNote(id, options = {}) {
  await call(noteUrl(id), { ...options, method: "DELETE" });
}
