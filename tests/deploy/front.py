"""The deployment tests' front: our nginx configuration in front of the real vision and ingest services
and stand-ins, and the keys those services are given (the ``front`` fixture in conftest.py starts it)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.servers import ServiceProcess

from .rig import NginxRig
from .standins import StandIn

__all__ = ["CLIENT_KEY", "INGEST_KEY", "NODERED_KEY", "STANDIN_NAMES", "VISION_KEY", "Front"]

STANDIN_NAMES = ("n8n", "openwebui", "nodered", "grafana")
VISION_KEY = "sk-deploy-tests"  # the model provider's key (the fake model checks nothing)
CLIENT_KEY = "client-key-deploy-tests"  # one of VISION_API_KEYS, as in production (required there)
NODERED_KEY = "nodered-key-deploy-tests"  # NODERED_VISION_API_KEY, also accepted by the vision API
INGEST_KEY = "ingest-key-deploy-tests"  # INGEST_API_KEYS


@dataclass
class Front:
    """nginx with our config; ``vision``/``ingest`` are the real services; ``ports`` every upstream's port."""

    nginx: NginxRig
    vision: ServiceProcess
    ingest: ServiceProcess
    standins: dict[str, StandIn]
    ports: dict[str, int]

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.nginx.https_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.nginx.http_port}"

    @property
    def host(self) -> str:
        return self.nginx.domain
