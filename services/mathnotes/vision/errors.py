"""Every reason the vision API refuses a request or gives no answer: one tree, one shape.

Each error carries what the client is answered with: the HTTP ``status``, a stable ``code``,
a plain ``message``, and optionally ``details`` (JSON) and response ``headers``. The modules that
find a problem raise their branch of the tree; nothing re-wraps them on the way up. The app maps
the base class to the JSON error shape in one place (``{"error": {"code", "message",
"request_id", "details"?}}``, or one ``error`` event once a stream has begun). Pure: no HTTP
framework here.

    VisionError                  status, code, message, details, headers
     ├── RequestError            the request itself (app, guards): invalid_json, invalid_body,
     │    │                      empty_image, unsupported_media_type, payload_too_large,
     │    │                      unauthorized, rate_limited
     │    └── InvalidRequest     its fields (inputs): invalid_request, details.problems lists every one
     ├── ImageError              the image (images): empty_image, invalid_base64, invalid_data_url,
     │                           corrupt_image, truncated_image, image_too_large, image_too_long,
     │                           image_aspect_ratio, unsupported_image_format
     ├── BudgetExceeded          decoding it would take more than VISION_DECODE_LARGE_MB (budget):
     │                           image_too_large
     ├── FetchError              an image URL (fetch): invalid_image_url, blocked_address,
     │                           image_url_unresolvable, image_url_unreachable, image_url_failed,
     │                           image_url_not_image, image_url_timeout, image_url_too_large
     ├── UpstreamError           the model, after every retry and fallback (upstream): upstream_*,
     │                           content_rejected; details.attempts lists each attempt
     └── AnalysisError           no answer for another reason (analyzer): invalid_model_output,
                                 ocr_unavailable
"""

from __future__ import annotations

from ..common.errors import ClientError

__all__ = ["AnalysisError", "RequestError", "VisionError"]


class VisionError(ClientError):
    """The vision API's refusals (the tree above)."""


class RequestError(VisionError):
    """The request itself is refused: its body, media type, size, key or rate."""


class AnalysisError(VisionError):
    """A request that was understood gets no answer: the model's output unfixable, the OCR engine failed."""
