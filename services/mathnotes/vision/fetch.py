"""SSRF-safe download of an image URL.

The host name is resolved once here and every address it resolves to must be a
public one (:func:`check_address`); the connection is then pinned to that address
(the TLS name and ``Host`` header stay the original host), so a second DNS answer
cannot swap in an internal address. Redirects are followed by hand, each target
checked the same way. The body is capped in size and the first bytes must be those
of an image we read.

The whole fetch has one deadline, however the bytes arrive: name resolution runs on
a thread that is abandoned at the deadline, and every socket opened is shut down by
a watchdog timer when the deadline passes, so a host that sends one byte every half
second (each read well within any per-read timeout) is cut off all the same.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
import urllib3.connection

from . import addresses
from .addresses import IPAddress, Network
from .errors import VisionError
from .images import sniff

__all__ = ["FetchError", "check_address", "fetch_image"]

Resolver = Callable[[str, int], list[str]]


class FetchError(VisionError):
    """An image URL that cannot be fetched (status 400, or 413 for one too large)."""


def check_address(address: str, allow: Sequence[Network] = ()) -> IPAddress:
    """The parsed address if it may be fetched; FetchError ``blocked_address`` if not (see :mod:`.addresses`)."""
    try:
        return addresses.check_address(address, allow)
    except addresses.AddressBlocked:
        raise FetchError("blocked_address", "image URL points to a private, loopback or metadata address") from None


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError("image_url_unresolvable", f"cannot resolve the image URL's host {host!r}") from None
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


_TIMEOUT = "fetching the image URL took too long"


class _Watchdog:
    """Shuts down every socket registered with it once ``deadline`` (monotonic) has passed."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.expired:
            raise FetchError("image_url_timeout", _TIMEOUT)
        return left

    def stop(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv on it
    except OSError:
        pass


def _watched(base: type[urllib3.connection.HTTPConnection], watchdog: _Watchdog) -> type[Any]:
    class Watched(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            sock: socket.socket = super()._new_conn()
            watchdog.register(sock)  # before TLS: a dripping handshake is cut off too
            return sock

    return Watched


def _resolve_within(resolve: Resolver, host: str, port: int, watchdog: _Watchdog) -> list[str]:
    """``resolve(host, port)`` on its own thread, given up at the deadline (getaddrinfo takes no timeout)."""
    result: list[list[str] | BaseException] = []

    def run() -> None:
        try:
            result.append(resolve(host, port))
        except BaseException as err:  # handed to the caller's thread
            result.append(err)

    worker = threading.Thread(target=run, name="fetch-resolve", daemon=True)
    worker.start()
    worker.join(watchdog.remaining())
    if not result:
        raise FetchError("image_url_timeout", _TIMEOUT)
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _target(url: str, allow: Sequence[Network], resolve: Resolver) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchError("invalid_image_url", "the image URL is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("invalid_image_url", "image URLs must be http:// or https:// with a host")
    addresses = resolve(parts.hostname, port)
    if not addresses:
        raise FetchError("image_url_unresolvable", f"cannot resolve the image URL's host {parts.hostname!r}")
    for address in addresses:  # every answer must be public, so DNS cannot mix in an internal one
        check_address(address, allow)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(parts.scheme, parts.hostname, port, path, addresses[0])


def _pool(
    target: _Target, timeout: urllib3.Timeout, ca_file: str | None, watchdog: _Watchdog
) -> urllib3.HTTPConnectionPool:
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs=ssl.CERT_REQUIRED,
            ssl_context=ssl.create_default_context(cafile=ca_file),
        )
        pool.ConnectionCls = _watched(urllib3.connection.HTTPSConnection, watchdog)
        return pool
    pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False, maxsize=1)
    pool.ConnectionCls = _watched(urllib3.connection.HTTPConnection, watchdog)
    return pool


def fetch_image(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    max_redirects: int = 3,
    allow: Sequence[Network] = (),
    resolve: Resolver = system_resolver,
    ca_file: str | None = None,
) -> bytes:
    """The bytes of the image at ``url``, fetched SSRF-safe within ``timeout_s`` in all; FetchError otherwise.

    ``ca_file`` replaces the system's trusted CAs (tests use their own).
    """
    watchdog = _Watchdog(time.monotonic() + timeout_s)
    try:
        return _fetch(url, max_bytes, max_redirects, allow, resolve, ca_file, watchdog)
    except FetchError:
        raise
    except Exception:
        if watchdog.expired:  # whatever broke when the watchdog shut the socket down
            raise FetchError("image_url_timeout", _TIMEOUT) from None
        raise
    finally:
        watchdog.stop()


def _fetch(
    url: str,
    max_bytes: int,
    max_redirects: int,
    allow: Sequence[Network],
    resolve: Resolver,
    ca_file: str | None,
    watchdog: _Watchdog,
) -> bytes:
    def within(host: str, port: int) -> list[str]:
        return _resolve_within(resolve, host, port, watchdog)

    for _hop in range(max_redirects + 1):
        target = _target(url, allow, within)
        remaining = watchdog.remaining()
        default_port = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        if ":" in target.host and not host_header.startswith("["):
            host_header = f"[{target.host}]" if target.port == default_port else f"[{target.host}]:{target.port}"
        pool = _pool(target, urllib3.Timeout(connect=min(remaining, 10.0), read=remaining), ca_file, watchdog)
        try:
            response = pool.urlopen(
                "GET",
                target.path,
                headers={"Host": host_header, "User-Agent": "mathnotes-vision/1", "Accept": "image/*"},
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.TimeoutError:
            raise FetchError("image_url_timeout", _TIMEOUT) from None
        except urllib3.exceptions.HTTPError as err:
            if watchdog.expired:
                raise FetchError("image_url_timeout", _TIMEOUT) from None
            reason = "TLS verification failed" if "SSL" in type(err).__name__ or "ssl" in str(err) else "unreachable"
            raise FetchError("image_url_unreachable", f"the image URL is {reason}") from None
        try:
            watchdog.remaining()  # headers cut short by the watchdog are a timeout, whatever they parsed to
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise FetchError("image_url_failed", "the image URL redirected without a Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError("image_url_failed", f"the image URL answered HTTP {response.status}")
            return _read(response, max_bytes, watchdog)
        finally:
            response.release_conn()
            pool.close()
    raise FetchError("image_url_failed", f"the image URL redirected more than {max_redirects} times")


def _read(response: urllib3.BaseHTTPResponse, max_bytes: int, watchdog: _Watchdog) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError("image_url_too_large", f"the image at the URL is larger than {max_bytes} bytes", 413)
    body = bytearray()
    try:
        for chunk in response.stream(65536):
            body += chunk
            if len(body) > max_bytes:
                raise FetchError("image_url_too_large", f"the image at the URL is larger than {max_bytes} bytes", 413)
            if len(body) >= 16 and len(body) - len(chunk) < 16 and sniff(bytes(body[:16])) is None:
                raise FetchError("image_url_not_image", "the URL does not serve a JPEG, PNG, WebP, HEIC or GIF image")
            watchdog.remaining()
    except urllib3.exceptions.TimeoutError:
        raise FetchError("image_url_timeout", _TIMEOUT) from None
    except urllib3.exceptions.HTTPError:
        if watchdog.expired:
            raise FetchError("image_url_timeout", _TIMEOUT) from None
        raise FetchError("image_url_unreachable", "the image URL's connection broke") from None
    watchdog.remaining()  # a body cut short by the watchdog is a timeout, not a short image
    if len(body) < 16 and sniff(bytes(body)) is None:
        raise FetchError("image_url_not_image", "the URL does not serve a JPEG, PNG, WebP, HEIC or GIF image")
    return bytes(body)
