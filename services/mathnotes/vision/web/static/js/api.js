// POST /api/vision/analyze in SSE mode: text deltas as they come, then the answer object.

import { retryAfterSeconds } from "./errors.js";
import { readEvents } from "./sse.js";

export const ENDPOINT = "api/vision/analyze"; // relative: the page also works under a path prefix

/** The bearer header for the API key the user typed, if any. */
export function authHeaders(apiKey) {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

/** An error answer from the API (or the network), with what the page needs to explain it. */
export class ApiFailure extends Error {
  constructor(status, error, wait = null) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.error = error || {};
    this.wait = wait;
  }
}

/** The ApiFailure for a non-2xx response (its JSON error, or the bare status). */
export async function errorFrom(response) {
  let error = { code: `http_${response.status}`, message: response.statusText };
  try {
    const body = await response.json();
    if (body && typeof body.error === "object") error = body.error;
  } catch {
    // not JSON (a proxy's error page): keep the status
  }
  return new ApiFailure(response.status, error, retryAfterSeconds(response.headers));
}

/**
 * Analyze one image. Calls onDelta(text) for each piece of the answer as it streams;
 * resolves with the final answer object; rejects with ApiFailure (or an AbortError).
 */
export async function analyze({ image, filename, task, language, apiKey, signal, onDelta, onOpen }) {
  const form = new FormData();
  form.append("file", image, filename || "photo.jpg");
  form.append("task", task);
  form.append("language", language);
  form.append("stream", "true");
  form.append("source", "page"); // the notes library records who sent the page
  const headers = { Accept: "text/event-stream", ...authHeaders(apiKey) };
  let response;
  try {
    response = await fetch(ENDPOINT, { method: "POST", body: form, headers, signal, credentials: "same-origin" });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiFailure(0, { code: "network", message: String(err?.message || err) });
  }
  if (!response.ok) throw await errorFrom(response);
  const type = response.headers.get("Content-Type") || "";
  if (!type.startsWith("text/event-stream")) {
    const answer = await response.json(); // a server that answered without streaming
    if (answer?.markdown) onDelta?.(answer.markdown);
    return answer;
  }
  onOpen?.();
  const wait = retryAfterSeconds(response.headers);
  try {
    for await (const { event, data } of readEvents(response)) {
      let payload;
      try {
        payload = JSON.parse(data);
      } catch {
        continue; // not ours
      }
      if (event === "delta" && typeof payload.text === "string") onDelta?.(payload.text);
      else if (event === "answer") return payload;
      else if (event === "error") throw new ApiFailure(response.status, payload.error || payload, wait);
    }
  } catch (err) {
    if (err instanceof ApiFailure || err?.name === "AbortError") throw err;
    throw new ApiFailure(response.status, { code: "interrupted", message: String(err?.message || err) });
  }
  throw new ApiFailure(response.status, { code: "interrupted", message: "the stream ended without an answer" });
}
