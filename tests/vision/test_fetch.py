"""SSRF-safe image URLs: private, loopback and metadata addresses refused, redirects re-checked, caps."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from flask.testing import FlaskClient

from mathnotes.vision.fetch import FetchError, check_address, fetch_image
from tests.support.fake_openai import FakeOpenAI

from .helpers import AppFactory

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
DRIP = 0.3  # seconds between bytes: each read is quick, the whole would take hours
SLACK = 3.0  # generous: proves "bounded by the deadline", not a speed


class ImageHost:
    """A real local HTTP server serving an image, redirects, HTML, big and slow bodies; it records hits."""

    def __init__(self, image: bytes) -> None:
        self.image = image
        self.hits: list[tuple[str, str]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                host.hits.append((self.path, self.headers.get("Host", "")))
                path, _, query = self.path.partition("?")
                if path == "/img.jpg":
                    self._send(200, host.image, "image/jpeg")
                elif path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", unquote(query.removeprefix("to=")))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/loop":
                    self.send_response(301)
                    self.send_header("Location", "/loop")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/page.html":
                    self._send(200, b"<html><body>hello</body></html>" * 10, "image/jpeg")  # lies about its type
                elif path == "/big.jpg":
                    self._send(200, host.image[:3] + b"\0" * 3_000_000, "image/jpeg")
                elif path == "/chunked.jpg":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    block = host.image[:3] + b"\0" * 65533
                    for _ in range(40):
                        self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif path == "/slow.jpg":
                    time.sleep(2)
                    self._send(200, host.image, "image/jpeg")
                elif path == "/drip-body.jpg":  # honest headers, then one byte every DRIP seconds
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(host.image)))
                    self.end_headers()
                    self._drip(host.image)
                elif path == "/drip-headers.jpg":  # the status line, then the headers a byte at a time
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    self._drip(b"X-Padding: " + b"a" * 10_000 + b"\r\n\r\n")
                elif path == "/drip-redirect":  # a redirect that drips its way to the dripping body
                    self.wfile.write(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n")
                    self._drip(b"Location: /drip-body.jpg\r\n\r\n")
                else:
                    self._send(404, b"missing", "text/plain")

            def _drip(self, data: bytes) -> None:
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(DRIP)
                except OSError:
                    pass  # the client gave up, as it should

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def host(note_jpeg: bytes) -> Iterator[ImageHost]:
    server = ImageHost(note_jpeg)
    yield server
    server.server.shutdown()
    server.server.server_close()


BLOCKED = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
    "100.100.100.200", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::1", "::",
    "fe80::1", "fe80::1%1", "fc00::1", "fd12:3456::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "ff02::1",
]  # fmt: skip


@pytest.mark.parametrize("address", BLOCKED)
def test_internal_addresses_are_refused(address: str) -> None:
    with pytest.raises(FetchError) as err:
        check_address(address)
    assert err.value.code == "blocked_address"


@pytest.mark.parametrize("address", ["8.8.8.8", "47.96.1.1", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert str(check_address(address)) == address


def test_the_test_allow_list_only_opens_what_it_names() -> None:
    assert str(check_address("127.0.0.1", LOOPBACK)) == "127.0.0.1"
    for address in ("10.0.0.1", "169.254.169.254", "::1"):
        with pytest.raises(FetchError):
            check_address(address, LOOPBACK)


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/img.jpg",
        "http://localhost:{port}/img.jpg",
        "http://[::1]:{port}/img.jpg",
        "http://2130706433:{port}/img.jpg",  # 127.0.0.1 as one decimal number
        "http://0x7f.1:{port}/img.jpg",  # 127.0.0.1 in inet_aton's short hex form
        "http://user:pw@127.0.0.1:{port}/img.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
    ],
)
def test_urls_to_internal_hosts_are_refused_without_a_request(host: ImageHost, template: str) -> None:
    with pytest.raises(FetchError) as err:
        fetch_image(template.format(port=host.port), max_bytes=10**6, timeout_s=5)
    assert err.value.code == "blocked_address"
    assert host.hits == []


def test_dns_answers_are_all_checked_and_the_address_is_pinned(host: ImageHost, note_jpeg: bytes) -> None:
    def mixed(_host: str, _port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(FetchError) as err:
        fetch_image("http://images.example/img.jpg", max_bytes=10**6, timeout_s=5, resolve=mixed)
    assert err.value.code == "blocked_address"

    calls: list[str] = []

    def pinned(name: str, _port: int) -> list[str]:
        calls.append(name)
        return ["127.0.0.1"]

    url = f"http://images.example:{host.port}/img.jpg"
    assert fetch_image(url, max_bytes=10**6, timeout_s=5, allow=LOOPBACK, resolve=pinned) == note_jpeg
    assert calls == ["images.example"]
    assert host.hits == [("/img.jpg", f"images.example:{host.port}")]


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x.jpg", "http://[::1]/x.jpg",
               "http://100.100.100.200/latest/meta-data/", "file:///etc/passwd"],
)  # fmt: skip
def test_redirects_to_internal_addresses_are_refused(host: ImageHost, target: str) -> None:
    with pytest.raises(FetchError) as err:
        fetch_image(host.url(f"/redirect?to={target}"), max_bytes=10**6, timeout_s=5, allow=LOOPBACK)
    assert err.value.code == ("invalid_image_url" if target.startswith("file:") else "blocked_address")
    assert len(host.hits) == 1 and host.hits[0][0].startswith("/redirect?to=")


def test_redirects_are_followed_within_the_limit(host: ImageHost, note_jpeg: bytes) -> None:
    assert fetch_image(host.url("/redirect?to=/img.jpg"), max_bytes=10**6, timeout_s=5, allow=LOOPBACK) == note_jpeg
    with pytest.raises(FetchError) as err:
        fetch_image(host.url("/loop"), max_bytes=10**6, timeout_s=5, allow=LOOPBACK, max_redirects=3)
    assert err.value.code == "image_url_failed" and len(host.hits) == 3 + 3


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/big.jpg", "image_url_too_large"),
        ("/chunked.jpg", "image_url_too_large"),
        ("/page.html", "image_url_not_image"),
        ("/missing.jpg", "image_url_failed"),
        ("/slow.jpg", "image_url_timeout"),
    ],
)
def test_size_time_and_content_caps(host: ImageHost, path: str, code: str) -> None:
    with pytest.raises(FetchError) as err:
        fetch_image(host.url(path), max_bytes=1_000_000, timeout_s=0.5, allow=LOOPBACK)
    assert err.value.code == code


def test_unresolvable_and_malformed_urls() -> None:
    for url, code in [
        ("http://no-such-host.invalid/x.jpg", "image_url_unresolvable"),
        ("ftp://example.com/x.jpg", "invalid_image_url"),
        ("http:///x.jpg", "invalid_image_url"),
        ("http://example.com:99999/x.jpg", "invalid_image_url"),
    ]:
        with pytest.raises(FetchError) as err:
            fetch_image(url, max_bytes=10, timeout_s=2)
        assert err.value.code == code, url


def test_api_refuses_internal_urls_by_default(client: FlaskClient, host: ImageHost, model: FakeOpenAI) -> None:
    for url in (host.url("/img.jpg"), "http://169.254.169.254/latest/meta-data/", f"http://localhost:{host.port}/"):
        resp = client.post("/api/vision/analyze", json={"image": url})
        assert resp.status_code == 400
        assert resp.get_json()["error"]["code"] == "blocked_address"
    assert host.hits == [] and model.requests == []


def test_api_fetches_allowed_urls_and_passes_through_when_configured(
    make_app: AppFactory, host: ImageHost, model: FakeOpenAI
) -> None:
    _app, client = make_app({"VISION_FETCH_ALLOW_NETWORKS": "127.0.0.0/8"})
    resp = client.post("/api/vision/analyze", json={"image": host.url("/img.jpg"), "prompt": "read"})
    assert resp.status_code == 200 and resp.get_json()["image"]["width"] == 900
    assert model.requests[0]["body"]["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/")

    model.reset()
    _app, passing = make_app({"VISION_IMAGE_URL_MODE": "passthrough"})
    url = "https://example.com/notes/page1.jpg"
    resp = passing.post("/api/vision/analyze", json={"image": url})
    assert resp.status_code == 200 and resp.get_json()["image"]["bytes_upstream"] == 0
    assert model.requests[0]["body"]["messages"][1]["content"][0]["image_url"]["url"] == url


@pytest.fixture
def tls_host(tmp_path: Path, note_jpeg: bytes) -> Iterator[tuple[int, str, list[str]]]:
    """An HTTPS image host whose certificate names images.test, signed by a throwaway CA; records SNI names."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=images.test",
         "-addext", "subjectAltName=DNS:images.test", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda _sock, name, _ctx: names.append(str(name)) and None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(note_jpeg)))
            self.end_headers()
            self.wfile.write(note_jpeg)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_address[1], str(tmp_path / "cert.pem"), names
    server.shutdown()
    server.server_close()


def test_https_is_pinned_to_the_checked_address_with_the_real_name(
    tls_host: tuple[int, str, list[str]], note_jpeg: bytes
) -> None:
    port, ca, names = tls_host

    def resolve(_host: str, _port: int) -> list[str]:
        return ["127.0.0.1"]

    url = f"https://images.test:{port}/img.jpg"
    assert fetch_image(url, max_bytes=10**6, timeout_s=5, allow=LOOPBACK, resolve=resolve, ca_file=ca) == note_jpeg
    assert names == ["images.test"]
    with pytest.raises(FetchError) as untrusted:  # the system's CAs do not trust this certificate
        fetch_image(url, max_bytes=10**6, timeout_s=5, allow=LOOPBACK, resolve=resolve)
    assert untrusted.value.code == "image_url_unreachable" and "TLS" in untrusted.value.message
    with pytest.raises(FetchError) as wrong_name:  # a certificate for another name is refused
        fetch_image(f"https://other.test:{port}/img.jpg", max_bytes=10**6, timeout_s=5, allow=LOOPBACK,
                    resolve=resolve, ca_file=ca)  # fmt: skip
    assert wrong_name.value.code == "image_url_unreachable"


@pytest.mark.parametrize("path", ["/drip-body.jpg", "/drip-headers.jpg", "/drip-redirect"])
def test_a_dripping_host_is_cut_off_at_the_deadline(host: ImageHost, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch_image(host.url(path), max_bytes=10**6, timeout_s=1.5, allow=LOOPBACK)
    elapsed = time.monotonic() - started
    assert err.value.code == "image_url_timeout" and err.value.status == 400
    assert elapsed < 1.5 + SLACK, elapsed


def test_a_hanging_name_lookup_is_given_up_at_the_deadline(host: ImageHost) -> None:
    release = threading.Event()

    def hangs(_host: str, _port: int) -> list[str]:
        release.wait(60)
        return ["127.0.0.1"]

    started = time.monotonic()
    try:
        with pytest.raises(FetchError) as err:
            fetch_image("http://slow-dns.example/img.jpg", max_bytes=10**6, timeout_s=1.0, resolve=hangs)
    finally:
        release.set()
    assert err.value.code == "image_url_timeout" and time.monotonic() - started < 1.0 + SLACK
    assert host.hits == []


def test_the_api_answers_a_dripping_url_within_the_fetch_timeout(make_app: AppFactory, host: ImageHost) -> None:
    _app, client = make_app({"VISION_FETCH_ALLOW_NETWORKS": "127.0.0.0/8", "VISION_FETCH_TIMEOUT_S": "1.5"})
    started = time.monotonic()
    resp = client.post("/api/vision/analyze", json={"image": host.url("/drip-body.jpg")})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "image_url_timeout"
    assert time.monotonic() - started < 1.5 + SLACK
    # a fetch well within the deadline still works after a cut-off one
    assert fetch_image(host.url("/img.jpg"), max_bytes=10**6, timeout_s=5, allow=LOOPBACK) == host.image
