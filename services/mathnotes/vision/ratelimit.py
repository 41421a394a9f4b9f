"""Fixed-window rate limits per client key or IP (``RATE_LIMIT_WINDOW_MS`` / ``RATE_LIMIT_MAX_REQUESTS``).

The semantics of express-rate-limit's default store: a window starts with a
client's first request; within it at most ``limit`` requests pass. Counts live in
the process, in the workers' shared SQLite store (:mod:`~mathnotes.vision.store`), or
in Redis when ``REDIS_URL`` is set so replicas share them. If the store fails,
requests pass (and a warning is logged) rather than the API failing.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from ..common.logs import get_logger
from .store import SqliteStore

__all__ = ["Decision", "Limiter", "MemoryLimiter", "RedisLimiter", "SqliteLimiter", "headers_for", "make_limiter"]

log = get_logger("mathnotes.vision.ratelimit")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # seconds until the window ends


def headers_for(decision: Decision, window_ms: int) -> dict[str, str]:
    """IETF draft RateLimit-* headers (as express-rate-limit's standardHeaders), plus Retry-After on refusal."""
    reset = max(1, math.ceil(decision.reset_s))
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{decision.limit};w={max(1, window_ms // 1000)}",
    }
    if not decision.allowed:
        headers["Retry-After"] = str(reset)
    return headers


class Limiter(Protocol):
    def hit(self, client: str) -> Decision: ...


class MemoryLimiter:
    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit, self.window_s = limit, window_ms / 1000
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> Decision:
        now = time.monotonic()
        with self._lock:
            if len(self._windows) > 100_000:  # bound memory: forget ended windows
                self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
            ends, count = self._windows.get(client, (0.0, 0))
            if ends <= now:
                ends, count = now + self.window_s, 0
            count += 1
            self._windows[client] = (ends, count)
        return Decision(count <= self.limit, self.limit, max(0, self.limit - count), ends - now)


class RedisLimiter:
    def __init__(self, url: str, limit: int, window_ms: int, prefix: str = "mathnotes:vision:rl:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.limit, self.window_ms, self.prefix = limit, window_ms, prefix

    def hit(self, client: str) -> Decision:
        key = self.prefix + client
        try:
            pipe = self.client.pipeline()  # MULTI/EXEC; SET NX PX starts the window (any Redis >= 2.6.12)
            pipe.set(key, 0, px=self.window_ms, nx=True)
            pipe.incr(key)
            pipe.pttl(key)
            _started, count, ttl = pipe.execute()
        except Exception as err:
            log.warning("rate-limit store failed, letting the request pass: %s", type(err).__name__)
            return Decision(True, self.limit, self.limit, self.window_ms / 1000)
        ttl_ms = ttl if isinstance(ttl, int) and ttl > 0 else self.window_ms
        return Decision(int(count) <= self.limit, self.limit, max(0, self.limit - int(count)), ttl_ms / 1000)


class SqliteLimiter:
    def __init__(self, store: SqliteStore, limit: int, window_ms: int) -> None:
        self.store, self.limit, self.window_s = store, limit, window_ms / 1000

    def hit(self, client: str) -> Decision:
        now = time.time()

        def work(c: sqlite3.Connection) -> tuple[float, int]:
            row = c.execute("SELECT ends, count FROM windows WHERE client = ?", (client,)).fetchone()
            ends, count = (row[0], row[1]) if row and row[0] > now else (now + self.window_s, 0)
            count += 1
            c.execute("INSERT OR REPLACE INTO windows VALUES (?, ?, ?)", (client, ends, count))
            if count == 1 and now % 60 < 1:  # now and then, forget ended windows
                c.execute("DELETE FROM windows WHERE ends < ?", (now,))
            return ends, count

        try:
            ends, count = self.store.run(work)
        except sqlite3.Error as err:
            log.warning("rate-limit store failed, letting the request pass: %s", err)
            return Decision(True, self.limit, self.limit, self.window_s)
        return Decision(count <= self.limit, self.limit, max(0, self.limit - count), ends - now)


def make_limiter(redis_url: str, limit: int, window_ms: int, state_dir: str = "") -> Limiter:
    """Redis when configured, else the workers' shared SQLite store when there is one, else memory."""
    if redis_url:
        return RedisLimiter(redis_url, limit, window_ms)
    if state_dir:
        return SqliteLimiter(SqliteStore(state_dir), limit, window_ms)
    return MemoryLimiter(limit, window_ms)
