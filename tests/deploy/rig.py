"""Real nginx running our configuration from a temporary folder, for the deploy tests.

The folder gets byte-for-byte copies of ``docker/nginx/mathnotes/*.conf`` and ``templates/``; our
``docker-entrypoint.sh`` renders the templates and makes the self-signed certificate exactly as
in the container. Only three things differ from production, all outside our http/server blocks:
the main file (pid, logs and temp paths inside the folder, ``daemon off``), the upstream
addresses (``mathnotes/upstreams.conf`` is rendered with the same upstream names pointing at
loopback ports) and the listen addresses (free loopback ports instead of 80/443).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.support.servers import free_port, spawn, wait_until

__all__ = ["NGINX_DIR", "REPO", "NginxRig", "loopback_upstreams", "upstream_names"]

REPO = Path(__file__).resolve().parents[2]
NGINX_DIR = REPO / "docker" / "nginx"
ENTRYPOINT = NGINX_DIR / "docker-entrypoint.sh"
_UPSTREAM = re.compile(r"^\s*upstream\s+([A-Za-z0-9_-]+)\s*\{", re.MULTILINE)


def upstream_names(text: str) -> list[str]:
    return _UPSTREAM.findall(text)


def loopback_upstreams(ports: Mapping[str, int]) -> str:
    blocks = [
        f"upstream {name} {{\n    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n    keepalive 8;\n}}\n"
        for name, port in ports.items()
    ]
    return "# loopback variant of docker/nginx/mathnotes/upstreams.conf written by tests/deploy/rig.py\n" + "\n".join(
        blocks
    )


def _nginx() -> str:
    found = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if not found:
        raise RuntimeError("nginx is not installed (./stack test installs nginx-light)")
    return found


class NginxRig:
    """Our nginx configuration in ``workdir`` in front of ``upstream_ports``."""

    def __init__(
        self,
        workdir: Path,
        upstream_ports: Mapping[str, int],
        domain: str = "notes.example.test",
        ai_domain: str = "",
        n8n_domain: str = "",
    ) -> None:
        self.dir = Path(workdir)
        self.upstream_ports = dict(upstream_ports)
        self.domain = domain
        self.ai_domain = ai_domain or f"ai.{domain}"
        self.n8n_domain = n8n_domain
        self.http_port = free_port()
        self.https_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.nginx = _nginx()

    # --- preparing the folder -------------------------------------------------------------
    def prepare(self) -> None:
        ours = (NGINX_DIR / "mathnotes" / "upstreams.conf").read_text()
        if sorted(upstream_names(ours)) != sorted(self.upstream_ports):
            raise AssertionError(f"upstreams {upstream_names(ours)} != test ports {sorted(self.upstream_ports)}")
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("mathnotes", "templates"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
            shutil.copytree(NGINX_DIR / sub, self.dir / sub)
        (self.dir / "mathnotes" / "upstreams.conf").write_text(loopback_upstreams(self.upstream_ports))
        shutil.copyfile("/etc/nginx/mime.types", self.dir / "mime.types")
        (self.dir / "tmp").mkdir(exist_ok=True)
        (self.dir / "nginx.conf").write_text(self.main_conf())

    def main_conf(self) -> str:
        d = self.dir
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temps = "".join(
            f"    {kind}_temp_path {d}/tmp/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            f"# test main file (production: docker/nginx/nginx.conf)\n{user}"
            f"daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n"
            "events {\n    worker_connections 512;\n}\n"
            "http {\n    include mime.types;\n    default_type application/octet-stream;\n"
            f"{temps}"
            "    include mathnotes/http.conf;\n    include mathnotes/upstreams.conf;\n    include conf.d/*.conf;\n"
            f"    access_log {d}/access.log mathnotes;\n}}\n"
        )

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin",
            "DOMAIN": self.domain,
            "AI_DOMAIN": self.ai_domain,
            "N8N_DOMAIN": self.n8n_domain,
            "NGINX_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "NGINX_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            "NGINX_CONF_DIR": str(self.dir),
            "SELF_SIGNED_DIR": str(self.dir / "self-signed"),
            "LETSENCRYPT_DIR": str(self.dir / "letsencrypt"),
            "NGINX_CERT_WATCH": "0",
        }

    def argv(self) -> list[str]:
        return ["sh", str(ENTRYPOINT), self.nginx, "-p", f"{self.dir}/", "-c", str(self.dir / "nginx.conf")]

    # --- running ----------------------------------------------------------------------------
    def test_config(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the prepared folder (templates must have been rendered by start/render)."""
        return subprocess.run(
            [
                self.nginx,
                "-t",
                "-p",
                f"{self.dir}/",
                "-c",
                str(self.dir / "nginx.conf"),
                "-e",
                str(self.dir / "error.log"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def start(self) -> NginxRig:
        self.prepare()
        log = open(self.dir / "entrypoint.log", "ab")
        self.proc = spawn(self.argv(), env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def listening() -> bool:
            # nginx writes its pid file only after binding every listen socket, and the entry point
            # exec's nginx, so the pid is ours: a port taken by another process cannot pass for it
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited {self.proc.returncode}: {self.log_text()}")
            pid = (self.dir / "nginx.pid").read_text().strip()
            if self.proc is None or pid != str(self.proc.pid):
                return False
            with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                return True

        if not wait_until(listening, 30):
            self.stop()
            raise RuntimeError(f"nginx did not listen: {self.log_text()}")
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log_text(self) -> str:
        parts = []
        for name in ("entrypoint.log", "error.log"):
            path = self.dir / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def __enter__(self) -> NginxRig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
