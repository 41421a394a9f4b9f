"""Settings of ``mathnotes-vision``: the table in the vision README (shared ones in the top-level README).

Every field reads one environment variable (or ``.env``); ``describe(VisionSettings)``
lists them for the README and ``mathnotes-vision --help``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..common.settings import (
    CommonSettings,
    ConfigError,
    boolean,
    choice,
    csv,
    http_url,
    integer,
    number,
    port,
    setting,
)

__all__ = ["ModelTarget", "VisionSettings", "is_text_only_model"]

DASHSCOPE_DEFAULT = "https://dashscope.aliyuncs.com/compatible-mode/v1"


@dataclass(frozen=True)
class ModelTarget:
    """One model in the ordered fallback list, with its own endpoint and key."""

    model: str
    base_url: str
    api_key: str = ""

    def __repr__(self) -> str:  # never print the key
        return f"ModelTarget(model={self.model!r}, base_url={self.base_url!r})"


def is_text_only_model(model: str, base_url: str = "") -> bool:
    """DeepSeek's API takes no images: such a model must never receive one."""
    return model.lower().startswith("deepseek") or "deepseek.com" in base_url.lower()


def _fallbacks(raw: str) -> tuple[tuple[str, str], ...]:
    """``model[@base_url]`` entries, comma-separated, in order."""
    out: list[tuple[str, str]] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        model, _, url = item.partition("@")
        if not model.strip():
            raise ValueError("model[@https://host/v1] entries separated by commas")
        out.append((model.strip(), http_url(url) if url.strip() else ""))
    return tuple(out)


def _positional(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(","))


def _networks(raw: str) -> tuple[str, ...]:
    nets = csv(raw)
    for net in nets:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ValueError("CIDR networks separated by commas, e.g. 127.0.0.0/8") from None
    return nets


@dataclass(frozen=True)
class VisionSettings(CommonSettings):
    host: str = setting("HOST", "0.0.0.0", doc="address to listen on")
    port: int = setting("PORT", 3001, parse=port, doc="HTTP port")
    workers: int = setting(
        "VISION_WORKERS", 2, parse=integer(1, 64), doc="gunicorn worker processes (share state via REDIS_URL or SQLite)"
    )
    threads: int = setting(
        "VISION_THREADS", 96, parse=integer(1, 1024), doc="threads per worker (requests served at once)"
    )
    graceful_timeout_s: int = setting(
        "VISION_GRACEFUL_TIMEOUT_S", 60, parse=integer(1, 3600), doc="on SIGTERM, seconds to finish requests"
    )
    # --- backend and model ------------------------------------------------------
    backend: str = setting(
        "VISION_BACKEND",
        "auto",
        parse=choice("auto", "openai", "ocr"),
        doc="auto: the model when DASHSCOPE_API_KEY is set, else offline OCR; openai; ocr",
    )
    dashscope_api_key: str = setting("DASHSCOPE_API_KEY", "", secret=True, doc="model provider API key")
    dashscope_base_url: str = setting(
        "DASHSCOPE_BASE_URL", DASHSCOPE_DEFAULT, parse=http_url, doc="OpenAI-compatible endpoint"
    )
    vision_model: str = setting("VISION_MODEL", "qwen3-vl-plus", doc="vision model name (never a DeepSeek model)")
    fallback_models: tuple[tuple[str, str], ...] = setting(
        "VISION_FALLBACK_MODELS",
        (),
        parse=_fallbacks,
        doc="ordered fallbacks, comma-separated model[@base_url]; base URL defaults to DASHSCOPE_BASE_URL",
    )
    fallback_api_keys: tuple[str, ...] = setting(
        "VISION_FALLBACK_API_KEYS",
        (),
        parse=_positional,
        secret=True,
        doc="keys of the fallbacks by position; an empty entry reuses DASHSCOPE_API_KEY",
    )
    timeout_s: float = setting("VISION_TIMEOUT_S", 60.0, parse=number(0.1), doc="per-attempt upstream timeout")
    total_timeout_s: float = setting(
        "VISION_TOTAL_TIMEOUT_S", 150.0, parse=number(0.1), doc="budget for all attempts and fallbacks"
    )
    retries: int = setting("VISION_RETRIES", 2, parse=integer(0, 10), doc="retries per model on timeout/429/5xx")
    backoff_s: float = setting("VISION_BACKOFF_S", 0.5, parse=number(0), doc="base of the jittered backoff")
    retry_after_max_s: float = setting(
        "VISION_RETRY_AFTER_MAX_S",
        20.0,
        parse=number(0),
        doc="longest Retry-After honoured; a longer one moves on to the next model",
    )
    max_tokens: int = setting("VISION_MAX_TOKENS", 4096, parse=integer(16, 131072), doc="max_tokens per answer")
    temperature: float = setting("VISION_TEMPERATURE", 0.1, parse=number(0), doc="sampling temperature")
    enable_thinking: bool = setting(
        "VISION_ENABLE_THINKING",
        False,
        parse=boolean,
        doc="DashScope enable_thinking (works only streaming, so upstream calls then always stream)",
    )
    high_resolution: bool = setting(
        "VISION_HIGH_RESOLUTION",
        False,
        parse=boolean,
        doc="DashScope vl_high_resolution_images (more image tokens; uses VISION_MAX_PIXELS_HIGH_RES)",
    )
    json_repair_retries: int = setting(
        "VISION_JSON_RETRIES", 1, parse=integer(0, 3), doc="re-asks when format=json output is invalid"
    )
    json_mode: str = setting(
        "VISION_JSON_MODE",
        "auto",
        parse=choice("auto", "on", "off"),
        doc="format=json asks for response_format json_object: auto (unless thinking; a model that refuses "
        "it with 400 is asked without it from then on), on, off",
    )
    # --- images -----------------------------------------------------------------
    max_body_bytes: int = setting(
        "VISION_MAX_BODY_BYTES", 20 * 1024 * 1024, parse=integer(1024), doc="request-body limit (413 above)"
    )
    max_input_pixels: int = setting(
        "VISION_MAX_INPUT_PIXELS",
        40_000_000,
        parse=integer(1),
        doc="pixels an image may have (read from its header, before decoding); a 600 dpi A4 scan has 35 M",
    )
    max_pixels: int = setting(
        "VISION_MAX_PIXELS",
        2_621_440,
        parse=integer(10_000),
        doc="pixels sent upstream (Qwen3-VL reads 2560 tokens of 32x32 px by default)",
    )
    max_pixels_high_res: int = setting(
        "VISION_MAX_PIXELS_HIGH_RES", 16_777_216, parse=integer(10_000), doc="pixels sent with VISION_HIGH_RESOLUTION"
    )
    # Memory (the README's arithmetic, measured by tests/vision/test_memory.py): a worker's
    # decodes together reserve at most VISION_DECODE_MEMORY_MB by the cost model
    # (pixels.decode_cost); one costing more, up to VISION_DECODE_LARGE_MB, waits for the
    # container-wide large-decode lock and the whole worker budget. Worst case in RSS:
    # master 100 + workers x idle worker 80 + (workers - 1) x VISION_DECODE_MEMORY_MB
    # + VISION_DECODE_LARGE_MB + workers x bodies in flight 40
    # = 120 + 160 + 80 + 216 + 80 = 656 MB with 2 workers (a 736 MB container); with 1 worker, as
    # docker-compose.prod.yml runs it on the 4 GB VM, 120 + 80 + 216 + 40 = 456 MB of 480 MB.
    decode_concurrency: int = setting(
        "VISION_DECODE_CONCURRENCY", 4, parse=integer(1, 256), doc="images decoded at once per worker (CPU)"
    )
    decode_memory_mb: int = setting(
        "VISION_DECODE_MEMORY_MB",
        80,
        parse=integer(16, 65536),
        doc="memory the decodes of one worker reserve at most together (MB, by the cost model)",
    )
    decode_large_mb: int = setting(
        "VISION_DECODE_LARGE_MB",
        216,
        parse=integer(16, 65536),
        doc="the most one decode may take (MB); those over VISION_DECODE_MEMORY_MB run one at a time per container",
    )
    jpeg_quality: int = setting("VISION_JPEG_QUALITY", 80, parse=integer(30, 100), doc="JPEG quality of re-encoding")
    url_mode: str = setting(
        "VISION_IMAGE_URL_MODE",
        "fetch",
        parse=choice("fetch", "passthrough"),
        doc="fetch image URLs here (SSRF-safe) or pass https URLs through to the provider",
    )
    fetch_timeout_s: float = setting(
        "VISION_FETCH_TIMEOUT_S",
        15.0,
        parse=number(0.1),
        doc="deadline for the whole image URL fetch (DNS, connect, TLS, headers, body, redirects)",
    )
    fetch_max_redirects: int = setting("VISION_FETCH_MAX_REDIRECTS", 3, parse=integer(0, 10), doc="redirects followed")
    fetch_allow_networks: tuple[str, ...] = setting(
        "VISION_FETCH_ALLOW_NETWORKS",
        (),
        parse=_networks,
        doc="TESTS ONLY: CIDRs exempt from the SSRF guard (default none; never set in production)",
    )
    # --- cache, auth, limits ----------------------------------------------------
    redis_url: str = setting("REDIS_URL", "", secret=True, doc="redis://host:6379/0 shares cache and limits")
    cache_entries: int = setting("VISION_CACHE_ENTRIES", 512, parse=integer(0), doc="in-process LRU size (0: off)")
    cache_ttl_s: int = setting("VISION_CACHE_TTL_S", 86400, parse=integer(1), doc="cached answer lifetime")
    state_dir: str = setting(
        "VISION_STATE_DIR",
        "",
        doc="folder of the SQLite store workers share (cache, limits) without REDIS_URL; default a private temp dir",
    )
    api_keys: tuple[str, ...] = setting(
        "VISION_API_KEYS", (), parse=csv, secret=True, doc="client bearer keys, comma-separated (none: open API)"
    )
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", (), parse=csv, doc="allowed CORS origins, comma-separated")
    rate_limit_window_ms: int = setting(
        "RATE_LIMIT_WINDOW_MS", 900000, parse=integer(1), doc="rate-limit window in milliseconds"
    )
    rate_limit_max_requests: int = setting(
        "RATE_LIMIT_MAX_REQUESTS", 100, parse=integer(1), doc="requests allowed per window per key or IP"
    )
    trusted_proxies: int = setting(
        "VISION_TRUSTED_PROXIES", 0, parse=integer(0, 5), doc="proxies in front (nginx: 1) whose X-Forwarded-For counts"
    )
    # --- the notes library (services/mathnotes/notes) ------------------------------
    notes_enabled: bool = setting(
        "NOTES_ENABLED", True, parse=boolean, doc="keep every analysed page in the notes library (/api/notes)"
    )
    notes_dir: str = setting(
        "NOTES_DIR", "./notes-data", doc="the library's folder: the SQLite database (without a PostgreSQL) and queue"
    )
    notes_keep_images: bool = setting(
        "NOTES_KEEP_IMAGES", True, parse=boolean, doc="keep a thumbnail of the page with each note"
    )
    notes_image_max_bytes: int = setting(
        "NOTES_IMAGE_MAX_BYTES",
        150_000,
        parse=integer(4096, 5_000_000),
        doc="largest thumbnail kept (bytes; the JPEG quality is lowered to fit, else none is kept)",
    )
    notes_image_max_side: int = setting(
        "NOTES_IMAGE_MAX_SIDE", 1024, parse=integer(64, 4096), doc="longest side of a thumbnail (pixels)"
    )
    notes_queue_length: int = setting(
        "NOTES_QUEUE_LENGTH", 1000, parse=integer(1, 100_000), doc="notes waiting in memory for the writer thread"
    )
    notes_queue_dir: str = setting(
        "NOTES_QUEUE_DIR", "", doc="on-disk queue of notes while the database is away (default NOTES_DIR/queue)"
    )
    notes_queue_max_mb: int = setting(
        "NOTES_QUEUE_MAX_MB", 64, parse=integer(1, 65536), doc="size of the on-disk queue; a full one drops notes"
    )
    notes_db_wait_s: float = setting(
        "NOTES_DB_WAIT_S", 60.0, parse=number(0), doc="at start-up, seconds to wait for the database to answer"
    )
    database_url: str = setting(
        "DATABASE_URL", "", secret=True, doc="postgresql://user:pass@host:5432/db: the library on PostgreSQL"
    )
    db_host: str = setting("DB_HOST", "", doc="PostgreSQL host (instead of DATABASE_URL)")
    db_port: int = setting("DB_PORT", 5432, parse=integer(1, 65535), doc="PostgreSQL port")
    db_name: str = setting("DB_NAME", "", doc="PostgreSQL database")
    db_user: str = setting("DB_USER", "", doc="PostgreSQL user")
    db_password: str = setting("DB_PASSWORD", "", secret=True, doc="PostgreSQL password")
    embedding_model: str = setting(
        "EMBEDDING_MODEL", "text-embedding-v4", doc="embedding model for search by meaning (needs a key)"
    )
    embedding_base_url: str = setting(
        "EMBEDDING_BASE_URL", "", parse=http_url, doc="its OpenAI-compatible endpoint (default DASHSCOPE_BASE_URL)"
    )
    embedding_api_key: str = setting(
        "EMBEDDING_API_KEY", "", secret=True, doc="its key (default DASHSCOPE_API_KEY; none: no search by meaning)"
    )
    embedding_dimensions: int = setting(
        "EMBEDDING_DIMENSIONS", 1024, parse=integer(1, 4096), doc="vector size asked of the embedding model"
    )
    # --- telemetry --------------------------------------------------------------
    telemetry: bool = setting("VISION_TELEMETRY", True, parse=boolean, doc="publish request telemetry to MQTT")
    telemetry_queue: int = setting(
        "VISION_TELEMETRY_QUEUE", 1000, parse=integer(1), doc="telemetry points held; a full queue drops"
    )

    def validate(self) -> None:
        for target in self.models():
            if is_text_only_model(target.model, target.base_url):
                raise ConfigError(
                    f"VISION_MODEL/VISION_FALLBACK_MODELS: {target.model} takes no images "
                    "(DeepSeek's API is text-only); use a vision model such as qwen3-vl-plus"
                )
        if len(self.fallback_api_keys) > len(self.fallback_models):
            raise ConfigError("VISION_FALLBACK_API_KEYS: more keys than VISION_FALLBACK_MODELS entries")

    def models(self) -> tuple[ModelTarget, ...]:
        """The primary model then its fallbacks, in order."""
        targets = [ModelTarget(self.vision_model, self.dashscope_base_url, self.dashscope_api_key)]
        for i, (model, url) in enumerate(self.fallback_models):
            key = self.fallback_api_keys[i] if i < len(self.fallback_api_keys) else ""
            targets.append(ModelTarget(model, url or self.dashscope_base_url, key or self.dashscope_api_key))
        return tuple(targets)

    @property
    def effective_backend(self) -> str:
        if self.backend == "auto":
            return "openai" if self.dashscope_api_key else "ocr"
        return self.backend

    @property
    def embedding_url(self) -> str:
        """The embedding endpoint: EMBEDDING_BASE_URL, else the model's DASHSCOPE_BASE_URL."""
        return self.embedding_base_url or self.dashscope_base_url

    @property
    def embedding_key(self) -> str:
        """The embedding key: EMBEDDING_API_KEY, else DASHSCOPE_API_KEY (empty: no search by meaning)."""
        return self.embedding_api_key or self.dashscope_api_key

    @property
    def upstream_pixels(self) -> int:
        return self.max_pixels_high_res if self.high_resolution else self.max_pixels
