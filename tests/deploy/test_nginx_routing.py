"""Real nginx with our configuration in front of the real vision and ingest services and stand-ins."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import StartServer, free_port, wait_until

from .clients import alpn, raw_request, read_event, sse_post, websocket_echo
from .front import CLIENT_KEY, INGEST_KEY, Front
from .rig import NginxRig
from .standins import HeldStream, StandIn, note_png

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def get(front: Front, path: str, host: str | None = None, **kw: object) -> requests.Response:
    headers = {"Host": host or front.host, **kw.pop("headers", {})}  # type: ignore[dict-item]
    return requests.get(front.https + path, headers=headers, verify=False, allow_redirects=False, timeout=30, **kw)  # type: ignore[arg-type]


# --- paths to upstreams ---------------------------------------------------------------------

STANDIN_ROUTES = [
    # (path sent to nginx, upstream, path the upstream receives)
    ("/n8n/", "n8n", "/"),
    ("/n8n/rest/settings?x=1", "n8n", "/rest/settings?x=1"),
    ("/n8n/webhook/abc", "n8n", "/webhook/abc"),
    ("/nodered/", "nodered", "/nodered/"),
    ("/nodered/flows", "nodered", "/nodered/flows"),
    ("/grafana/", "grafana", "/grafana/"),
    ("/grafana/api/health", "grafana", "/grafana/api/health"),
]


@pytest.mark.parametrize(("path", "upstream", "received"), STANDIN_ROUTES)
def test_sub_paths_reach_their_upstream(front: Front, path: str, upstream: str, received: str) -> None:
    resp = get(front, path)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert (doc["upstream"], doc["path"]) == (upstream, received)
    assert doc["headers"]["x-forwarded-proto"] == "https"
    assert doc["headers"]["host"] == front.host
    assert doc["headers"]["x-forwarded-for"] == "127.0.0.1"


@pytest.mark.parametrize("bare", ["/n8n", "/nodered", "/grafana"])
def test_bare_sub_path_gets_its_slash(front: Front, bare: str) -> None:
    resp = get(front, bare)
    assert resp.status_code == 301
    assert resp.headers["Location"].endswith(bare + "/")


def test_open_webui_lives_on_its_own_name(front: Front) -> None:
    ai = front.nginx.ai_domain
    for path in ("/ai", "/ai/", "/ai/c/123"):
        resp = get(front, path)
        assert resp.status_code == 302
        assert resp.headers["Location"] == f"https://{ai}/"
    doc = get(front, "/api/chat/completions", host=ai).json()
    assert (doc["upstream"], doc["path"]) == ("openwebui", "/api/chat/completions")


def _seen_in_log(proc_log: str, request_id: str) -> bool:
    return request_id in proc_log


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/", "vision"),
        ("/health", "vision"),
        ("/api/vision/nope", "vision"),
        ("/api/notes?q=integral", "vision"),  # the notes library, under nginx's location /
        ("/api/ingest/nope", "ingest"),
    ],
)
def test_paths_reach_the_real_services(front: Front, path: str, service: str) -> None:
    rid = f"deploy-{uuid.uuid4().hex}"
    resp = get(front, path, headers={"X-Request-ID": rid})
    assert resp.headers["Content-Type"].startswith(("application/json", "text/html"))
    assert resp.status_code in {200, 401, 404, 503}  # 401: the vision API asks for a key before it routes
    if resp.status_code in {401, 404}:
        assert resp.json()["error"]["code"]
    target, other = (front.vision, front.ingest) if service == "vision" else (front.ingest, front.vision)
    assert wait_until(lambda: rid in target.log_text(), 10), f"{rid} not logged by {service}"
    assert rid not in other.log_text()
    assert all(rid not in str(s.seen) for s in front.standins.values())


def test_ingest_health_and_post_route(front: Front) -> None:
    # POST /api/ingest without a body: the ingest service itself answers (a JSON error, not nginx's)
    resp = requests.post(
        front.https + "/api/ingest",
        headers={"Host": front.host, "Content-Type": "application/json", "Authorization": f"Bearer {INGEST_KEY}"},
        data=b"{}",
        verify=False,
        timeout=30,
    )
    assert 400 <= resp.status_code < 500 and resp.status_code != 401, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "upstream_unavailable" not in resp.text


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/ingest", "text/plain", b"room,site=lab temp=21.5"),
        ("/api/vision/analyze?task=transcribe", "image/png", note_png()),
    ],
)
@pytest.mark.parametrize("key", [None, "not-a-key"])
def test_the_apis_behind_nginx_want_a_key(
    front: Front, model: FakeOpenAI, path: str, content_type: str, body: bytes, key: str | None
) -> None:
    headers = {"Host": front.host, "Content-Type": content_type, **({"Authorization": f"Bearer {key}"} if key else {})}
    resp = requests.post(front.https + path, headers=headers, data=body, verify=False, timeout=30)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert model.requests == []  # nothing reached the model: the key was not spent


def test_metrics_stay_inside(front: Front) -> None:
    resp = get(front, "/metrics")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


# --- HTTP → HTTPS, ACME, headers, gzip, HTTP/2 ----------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/vision/analyze?x=1", "/grafana/d/abc"])
def test_http_redirects_to_https(front: Front, path: str) -> None:
    resp = requests.get(front.http + path, headers={"Host": front.host}, allow_redirects=False, timeout=10)
    assert resp.status_code == 301
    assert resp.headers["Location"] == f"https://{front.host}{path}"


def test_acme_challenge_is_served_over_http(front: Front) -> None:
    resp = requests.get(
        front.http + "/.well-known/acme-challenge/token123",
        headers={"Host": front.host},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 404  # not redirected: certbot's webroot answers (no such token here)
    assert requests.get(front.http + "/nginx-health", timeout=10).text == "ok\n"


def test_security_headers_and_gzip(front: Front) -> None:
    resp = get(front, "/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.headers.get("Content-Encoding") == "gzip"
    for name in ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert name in resp.headers
    assert resp.headers["X-Content-Type-Options"] == "nosniff"  # one value, not the upstream's plus ours
    assert "Server" not in resp.headers or "/" not in resp.headers["Server"]  # no version


def test_http2_is_offered(front: Front) -> None:
    assert alpn(front.nginx.https_port, front.host) == "h2"


# --- WebSockets --------------------------------------------------------------------------------------

WS_ROUTES = [
    ("main", "/nodered/comms", "nodered", "/nodered/comms"),
    ("main", "/n8n/rest/push?pushRef=abc", "n8n", "/rest/push?pushRef=abc"),
    ("main", "/grafana/api/live/ws", "grafana", "/grafana/api/live/ws"),
    ("ai", "/ws/socket.io/?EIO=4&transport=websocket", "openwebui", "/ws/socket.io/?EIO=4&transport=websocket"),
]


@pytest.mark.parametrize(("site", "path", "upstream", "received"), WS_ROUTES)
def test_websocket_upgrades_pass(front: Front, site: str, path: str, upstream: str, received: str) -> None:
    host = front.nginx.ai_domain if site == "ai" else front.host
    status, echoed = websocket_echo(front.nginx.https_port, host, path, "ping-42")
    assert " 101 " in f"{status} ", status
    assert echoed == f"{upstream}:ping-42"
    assert any(
        s["path"] == received and s["headers"].get("upgrade") == "websocket" for s in front.standins[upstream].seen
    )


# --- request bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "size"), [("/api/vision/analyze", 20 * 1024 * 1024 + 1), ("/api/ingest", 5 * 1024 * 1024 + 1)]
)
def test_oversized_body_gets_413_json(front: Front, path: str, size: int) -> None:
    status, headers, body = raw_request(
        front.nginx.https_port,
        front.host,
        f"POST {path} HTTP/1.1",
        {"Content-Type": "application/octet-stream", "Content-Length": str(size), "Connection": "close"},
    )
    assert " 413 " in status
    assert headers["content-type"].startswith("application/json")
    assert b'"payload_too_large"' in body


def test_body_under_the_vision_limit_reaches_vision(front: Front) -> None:
    body = b"\0" * (19 * 1024 * 1024)
    resp = requests.post(
        front.https + "/api/vision/analyze",
        data=body,
        verify=False,
        timeout=60,
        headers={
            "Host": front.host,
            "Content-Type": "application/octet-stream",
            "Authorization": f"Bearer {CLIENT_KEY}",
        },
    )
    assert resp.status_code != 413
    assert resp.status_code < 500 and resp.status_code != 401, resp.text
    assert "error" in resp.json()  # the vision API's own answer: not an image


# --- SSE, n8n subdomain, upstream down --------------------------------------------------------------------


def test_vision_stream_arrives_unbuffered(front: Front, model: FakeOpenAI) -> None:
    answer = "The note reads: $x^2 + 2x + 1 = (x+1)^2$, so the double root is $x = -1$."
    held = HeldStream(answer)
    model.script(held)
    path = "/api/vision/analyze?stream=true&task=transcribe"
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    conn, resp = sse_post(front.nginx.https_port, front.host, path, note_png(), "image/png", auth)
    try:
        assert resp.status == 200, resp.read()[:500]
        assert resp.getheader("Content-Type", "").startswith("text/event-stream")
        assert resp.getheader("Content-Encoding") is None  # gzip would hold events back
        # The model sent one piece and holds the rest until release(): this event can only arrive now
        # if nginx passes it on at once (buffered, it would wait for the end of the stream and time out).
        first = read_event(resp)
        assert first is not None and first[0] == "delta", first
        assert answer.startswith(first[1]["text"]) and first[1]["text"] != answer
        held.release()
        rest = list(iter(lambda: read_event(resp), None))
    finally:
        held.release()  # never leave the model waiting, even when an assertion failed
        conn.close()
    deltas = [first, *(event for event in rest if event[0] == "delta")]
    assert "".join(event[1]["text"] for event in deltas) == answer
    assert rest[-1][0] == "answer"


def test_down_upstream_answers_503_json(tmp_path: Path, start_server: StartServer) -> None:
    ports = {name: free_port() for name in ("vision", "ingest", "n8n", "openwebui", "nodered", "grafana")}
    nginx = start_server(NginxRig(tmp_path, ports))
    resp = requests.get(
        f"https://127.0.0.1:{nginx.https_port}/grafana/", headers={"Host": nginx.domain}, verify=False, timeout=30
    )
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "upstream_unavailable"
    assert resp.headers["Retry-After"] == "5"


def test_n8n_subdomain_variant(tmp_path: Path, standins: dict[str, StandIn], start_server: StartServer) -> None:
    ports = {
        "vision": standins["grafana"].port,
        "ingest": standins["grafana"].port,
        **{name: s.port for name, s in standins.items()},
    }
    nginx = start_server(NginxRig(tmp_path, ports, n8n_domain="n8n.notes.example.test"))
    base = f"https://127.0.0.1:{nginx.https_port}"
    resp = requests.get(
        base + "/n8n/workflows", headers={"Host": nginx.domain}, verify=False, allow_redirects=False, timeout=30
    )
    assert resp.status_code == 301
    assert resp.headers["Location"] == "https://n8n.notes.example.test/"
    doc = requests.get(
        base + "/rest/settings", headers={"Host": "n8n.notes.example.test"}, verify=False, timeout=30
    ).json()
    assert (doc["upstream"], doc["path"]) == ("n8n", "/rest/settings")
    status, echoed = websocket_echo(nginx.https_port, "n8n.notes.example.test", "/rest/push", "hi")
    assert " 101 " in f"{status} " and echoed == "n8n:hi"
