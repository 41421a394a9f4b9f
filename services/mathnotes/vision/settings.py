"""Settings of ``mathnotes-vision`` (names from DESIGN.md and the seed documents)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import CommonSettings, csv, http_url, integer, port, setting

__all__ = ["VisionSettings"]


@dataclass(frozen=True)
class VisionSettings(CommonSettings):
    host: str = setting("HOST", "0.0.0.0", doc="address to listen on")
    port: int = setting("PORT", 3001, parse=port, doc="HTTP port")
    dashscope_api_key: str = setting("DASHSCOPE_API_KEY", "", secret=True, doc="model provider API key")
    dashscope_base_url: str = setting(
        "DASHSCOPE_BASE_URL",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        parse=http_url,
        doc="OpenAI-compatible endpoint",
    )
    vision_model: str = setting("VISION_MODEL", "qwen3-vl-plus", doc="vision model name")
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", (), parse=csv, doc="allowed CORS origins, comma-separated")
    rate_limit_window_ms: int = setting(
        "RATE_LIMIT_WINDOW_MS", 900000, parse=integer(1), doc="rate-limit window in milliseconds"
    )
    rate_limit_max_requests: int = setting(
        "RATE_LIMIT_MAX_REQUESTS", 100, parse=integer(1), doc="requests allowed per window per key or IP"
    )
