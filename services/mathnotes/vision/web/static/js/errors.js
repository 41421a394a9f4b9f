// API errors ({"error": {"code", "message", "request_id"}}) in plain words.

import { t, waitWords } from "./i18n.js";

const MODEL_DOWN = new Set(["upstream_unavailable", "upstream_auth", "upstream_bad_request", "upstream_bad_response",
  "invalid_model_output", "ocr_unavailable", "model_unavailable"]);
const BAD_IMAGE = new Set(["corrupt_image", "truncated_image", "invalid_base64", "invalid_data_url", "empty_image",
  "unsupported_image", "unsupported_media_type"]);

/** Seconds to wait from Retry-After (seconds or an HTTP date) or RateLimit-Reset, else null. */
export function retryAfterSeconds(headers, now = Date.now()) {
  const get = (name) => (headers && typeof headers.get === "function" ? headers.get(name) : headers?.[name]) ?? null;
  const raw = get("Retry-After") ?? get("retry-after");
  if (raw != null && String(raw).trim() !== "") {
    const n = Number(raw);
    if (Number.isFinite(n)) return Math.max(0, n);
    const date = Date.parse(raw);
    if (!Number.isNaN(date)) return Math.max(0, Math.round((date - now) / 1000));
  }
  const reset = Number(get("RateLimit-Reset") ?? get("ratelimit-reset"));
  return Number.isFinite(reset) && reset > 0 ? reset : null;
}

/**
 * A user-facing sentence for an error.
 * @param {number} status HTTP status (0: network failure)
 * @param {{code?: string, message?: string}} error the body's "error" object
 * @param {number|null} wait seconds from Retry-After, if any
 */
export function describeError(status, error = {}, wait = null) {
  const code = error.code || "";
  if (status === 0 || code === "network") return t("err_network");
  if (code === "interrupted") return t("err_interrupted");
  if (status === 429 || code === "rate_limited") {
    return wait != null ? t("err_rate_limited", { wait: waitWords(wait) }) : t("err_rate_limited_nowait");
  }
  if (code === "upstream_rate_limited") {
    return wait != null ? t("err_model_busy", { wait: waitWords(wait) }) : t("err_model_busy_nowait");
  }
  if (status === 413 || code === "payload_too_large" || code === "image_url_too_large") return t("err_too_large");
  if (code === "image_too_large") return t("err_image_pixels");
  if (code === "image_too_long" || code === "image_aspect_ratio") return t("err_image_shape");
  if (BAD_IMAGE.has(code)) return t("err_bad_image");
  if (code === "upstream_timeout" || status === 504) return t("err_model_timeout");
  if (code === "content_rejected") return t("err_rejected");
  if (status === 401 || code === "unauthorized") return t("err_unauthorized");
  if (MODEL_DOWN.has(code) || status === 502 || status === 503) return t("err_model_unavailable");
  return t("err_other", { message: error.message || `HTTP ${status}` });
}
