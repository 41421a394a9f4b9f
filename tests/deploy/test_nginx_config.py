"""``nginx -t`` on our configuration, and the TLS certificates the entry point chooses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import StartServer, free_port

from .clients import peer_certificate
from .rig import NGINX_DIR, NginxRig, upstream_names

UPSTREAMS = ("vision", "ingest", "n8n", "openwebui", "nodered", "grafana")


def _ports() -> dict[str, int]:
    return {name: free_port() for name in UPSTREAMS}


def _openssl(*args: str, data: bytes | None = None) -> str:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=True, timeout=60)
    return done.stdout.decode()


@pytest.mark.parametrize("n8n_domain", ["", "n8n.notes.example.test"], ids=["n8n-subpath", "n8n-subdomain"])
def test_nginx_t_passes_on_rendered_config(tmp_path: Path, n8n_domain: str) -> None:
    rig = NginxRig(tmp_path, _ports(), n8n_domain=n8n_domain)
    rig.prepare()
    # the entry point renders the templates, makes the self-signed certificate, runs nginx -t, then our command
    done = subprocess.run([*rig.argv()[:2], "true"], env=rig.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "self-signed" in done.stderr
    rendered = sorted(p.name for p in (tmp_path / "conf.d").glob("*.conf"))
    assert rendered == (["ai.conf", "n8n.conf", "site.conf"] if n8n_domain else ["ai.conf", "site.conf"])
    for conf in (tmp_path / "conf.d").glob("*.conf"):
        assert "${" not in conf.read_text(), f"{conf.name}: a template variable was left unrendered"
    check = rig.test_config()
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr


def test_production_files_fit_together() -> None:
    main = (NGINX_DIR / "nginx.conf").read_text()
    for include in ("mime.types", "mathnotes/http.conf", "mathnotes/upstreams.conf", "conf.d/*.conf"):
        assert f"include {include};" in main
    assert sorted(upstream_names((NGINX_DIR / "mathnotes" / "upstreams.conf").read_text())) == sorted(UPSTREAMS)
    http = (NGINX_DIR / "mathnotes" / "http.conf").read_text()
    # the vision API's body limit (VISION_MAX_BODY_BYTES, 20 MiB) is nginx's default limit
    from mathnotes.vision.settings import VisionSettings

    limit = re.search(r"^client_max_body_size (\d+)m;", http, re.MULTILINE)
    assert limit is not None
    default = VisionSettings.__dataclass_fields__["max_body_bytes"].default
    assert int(limit.group(1)) * 1024 * 1024 == default
    # /api/ingest lowers it to the ingest service's INGEST_MAX_BODY_BYTES
    from mathnotes.ingest.settings import IngestSettings

    site = (NGINX_DIR / "templates" / "site.conf.template").read_text()
    ingest = re.findall(r"location[^{]*/api/ingest[^{]*\{[^}]*?client_max_body_size (\d+)m;", site)
    assert ingest, "no client_max_body_size in the /api/ingest locations"
    expected = IngestSettings.__dataclass_fields__["max_body_bytes"].default
    assert all(int(mb) * 1024 * 1024 == expected for mb in ingest), ingest


def test_self_signed_certificate_names_every_site(tmp_path: Path, start_server: StartServer) -> None:
    rig = start_server(NginxRig(tmp_path, _ports(), n8n_domain="n8n.notes.example.test"))
    der = peer_certificate(rig.https_port, rig.domain)
    text = _openssl("x509", "-inform", "DER", "-noout", "-text", data=der)
    for name in (rig.domain, rig.ai_domain, "n8n.notes.example.test"):
        assert f"DNS:{name}" in text


def test_lets_encrypt_certificate_wins_when_present(tmp_path: Path, start_server: StartServer) -> None:
    rig = NginxRig(tmp_path, _ports())
    live = tmp_path / "letsencrypt" / "live" / rig.domain
    live.mkdir(parents=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=issued-by-certbot",
        "-keyout",
        str(live / "privkey.pem"),
        "-out",
        str(live / "fullchain.pem"),
    )
    start_server(rig)
    der = peer_certificate(rig.https_port, rig.domain)
    assert "issued-by-certbot" in _openssl("x509", "-inform", "DER", "-noout", "-subject", data=der)
    assert (tmp_path / "tls" / "fullchain.pem").resolve() == (live / "fullchain.pem").resolve()


def test_self_signed_certificate_is_kept_across_restarts_until_the_names_change(tmp_path: Path) -> None:
    rig = NginxRig(tmp_path, _ports())
    rig.prepare()
    cert = tmp_path / "self-signed" / "fullchain.pem"

    def start(**env: str) -> str:
        done = subprocess.run(
            [*rig.argv()[:2], "true"], env={**rig.env(), **env}, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return cert.read_text()

    first = start()
    assert start() == first  # a restart keeps it (browsers' exceptions stay valid)
    renamed = start(AI_DOMAIN="chat.notes.example.test")
    assert renamed != first
    assert "DNS:chat.notes.example.test" in _openssl("x509", "-noout", "-text", "-in", str(cert))
