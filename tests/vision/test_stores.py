"""The cache and rate-limit stores on their own: LRU order, TTL, windows, the workers' SQLite store."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from mathnotes.vision.cache import MemoryCache, cache_key
from mathnotes.vision.ratelimit import MemoryLimiter, SqliteLimiter, headers_for
from mathnotes.vision.store import SqliteCache, SqliteStore
from tests.support.servers import wait_until


def test_cache_key_covers_every_part() -> None:
    base = cache_key(b"img", task="solve", prompt="", models=["a"])
    assert base == cache_key(b"img", models=["a"], prompt="", task="solve")
    assert base != cache_key(b"img2", task="solve", prompt="", models=["a"])
    assert base != cache_key(b"img", task="check", prompt="", models=["a"])
    assert base != cache_key(b"img", task="solve", prompt="", models=["b"])


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_cache_evicts_least_recently_used_and_expires(kind: str, tmp_path: Path) -> None:
    def make(ttl: float) -> MemoryCache | SqliteCache:
        if kind == "memory":
            return MemoryCache(2, ttl)
        return SqliteCache(SqliteStore(str(tmp_path)), 2, ttl)

    cache = make(60)
    cache.set("a", {"v": 1})
    cache.set("b", {"v": 2})
    assert cache.get("a") == {"v": 1}  # a is now the most recent
    cache.set("c", {"v": 3})
    assert cache.get("b") is None and cache.get("a") == {"v": 1} and cache.get("c") == {"v": 3}
    short = make(0.05)
    short.set("x", {"v": 1})
    assert wait_until(lambda: short.get("x") is None, timeout=10, interval=0.01)  # expired, however slow the machine
    assert cache.ping()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_limiter_counts_per_client_and_starts_a_new_window(kind: str, tmp_path: Path) -> None:
    limiter = MemoryLimiter(2, 100) if kind == "memory" else SqliteLimiter(SqliteStore(str(tmp_path)), 2, 100)
    first, second, third = (limiter.hit("ip:1") for _ in range(3))
    assert (first.allowed, first.remaining) == (True, 1)
    assert (second.allowed, second.remaining) == (True, 0)
    assert (third.allowed, third.remaining) == (False, 0) and 0 < third.reset_s <= 0.1
    assert limiter.hit("ip:2").allowed
    assert wait_until(lambda: limiter.hit("ip:1").allowed, timeout=10, interval=0.02)  # the next window lets it in


def _hammer(folder: str, hits: int) -> None:
    limiter = SqliteLimiter(SqliteStore(folder), 10**9, 60_000)
    for _ in range(hits):
        limiter.hit("shared")


def test_sqlite_limiter_counts_exactly_across_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), 200)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    decision = SqliteLimiter(SqliteStore(str(tmp_path)), 601, 60_000).hit("shared")
    assert decision.remaining == 0 and decision.allowed  # 3 x 200 + this one = 601


def test_rate_limit_headers() -> None:
    limiter = MemoryLimiter(1, 900_000)
    limiter.hit("k")
    refused = limiter.hit("k")
    headers = headers_for(refused, 900_000)
    assert headers["RateLimit-Limit"] == "1" and headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Policy"] == "1;w=900"
    assert headers["Retry-After"] == headers["RateLimit-Reset"] and 899 <= int(headers["Retry-After"]) <= 900
    assert "Retry-After" not in headers_for(MemoryLimiter(5, 1000).hit("k"), 1000)
