"""Answer cache: in-process LRU by default, Redis when ``REDIS_URL`` is set (replicas share it).

Keys are SHA-256 digests of the image bytes and everything that shapes the answer
(task, prompt, language, format, backend and model list). A cache that fails
(Redis down) is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from ..common.logs import get_logger

__all__ = ["AnswerCache", "MemoryCache", "RedisCache", "cache_key", "make_cache"]

log = get_logger("mathnotes.vision.cache")


def cache_key(image: bytes, **parts: Any) -> str:
    digest = hashlib.sha256(image)
    digest.update(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


class AnswerCache(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any]) -> None: ...

    def ping(self) -> bool: ...


class MemoryCache:
    def __init__(self, max_entries: int, ttl_s: float) -> None:
        self.max_entries, self.ttl_s = max_entries, ttl_s
        self._items: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def set(self, key: str, value: dict[str, Any]) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def ping(self) -> bool:
        return True


class RedisCache:
    def __init__(self, url: str, ttl_s: int, prefix: str = "mathnotes:vision:answer:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.ttl_s, self.prefix = ttl_s, prefix

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = self.client.get(self.prefix + key)
        except Exception as err:
            log.warning("cache read failed: %s", type(err).__name__)
            return None
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        try:
            self.client.set(self.prefix + key, json.dumps(value, ensure_ascii=False), ex=self.ttl_s)
        except Exception as err:
            log.warning("cache write failed: %s", type(err).__name__)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False


def make_cache(redis_url: str, max_entries: int, ttl_s: int, state_dir: str = "") -> AnswerCache:
    """Redis when configured, else the workers' shared SQLite store when there is one, else memory."""
    if redis_url:
        return RedisCache(redis_url, ttl_s)
    if state_dir:
        from .store import SqliteCache, SqliteStore

        return SqliteCache(SqliteStore(state_dir), max_entries, ttl_s)
    return MemoryCache(max_entries, ttl_s)
