"""docker-compose.prod.yml resolved with a real .env (the example filled by scripts/init-env.sh).

What ``docker compose config`` would catch, without an engine: every variable resolves, nested
defaults give the right URLs, and the environment each of our services receives is accepted by
its own settings loader (``mathnotes.common.settings.load``), as at container start.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mathnotes.common.settings import load
from mathnotes.ingest.settings import IngestSettings
from mathnotes.vision.settings import VisionSettings

from .composefile import filled_env, resolved_services, service_env
from .interpolate import MissingVariable, interpolate
from .rig import REPO

DOMAIN = "notes.example.com"
N8N_WORKFLOWS = REPO / "n8n-nodes" / "workflows"
FLOWS = REPO / "node-red-flows"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return filled_env(tmp_path, DOMAIN=DOMAIN, N8N_OWNER_EMAIL="owner@example.com", LETSENCRYPT_EMAIL="ops@example.com")


def test_everything_resolves_with_a_filled_env(env: dict[str, str]) -> None:
    services = resolved_services(env)
    for name, svc in services.items():
        for key, value in svc.get("environment", {}).items():
            assert "${" not in str(value), f"{name}.{key} = {value}"
    assert service_env(env, "nginx")["DOMAIN"] == DOMAIN
    assert service_env(env, "openwebui")["WEBUI_URL"] == f"https://ai.{DOMAIN}"
    n8n = service_env(env, "n8n")
    assert n8n["N8N_EDITOR_BASE_URL"] == n8n["N8N_WEBHOOK_URL"] == f"https://{DOMAIN}/n8n/"
    assert n8n["N8N_PATH"] == "/n8n/"
    assert service_env(env, "grafana")["GF_SERVER_ROOT_URL"] == f"https://{DOMAIN}/grafana/"
    webui = service_env(env, "openwebui")
    assert webui["OPENAI_API_BASE_URLS"].split(";") == [env["DASHSCOPE_BASE_URL"], env["DEEPSEEK_BASE_URL"]]
    assert len(webui["OPENAI_API_KEYS"].split(";")) == 2
    redis_cmd = services["redis"]["command"][-1]
    assert '"$REDISCLI_AUTH"' in redis_cmd  # $$ left for the container's shell
    assert urlsplit(service_env(env, "vision")["REDIS_URL"]).password == env["REDIS_PASSWORD"]


def test_subdomain_layout_for_n8n(tmp_path: Path) -> None:
    env = filled_env(
        tmp_path,
        DOMAIN=DOMAIN,
        N8N_OWNER_EMAIL="o@example.com",
        N8N_DOMAIN="n8n.example.com",
        N8N_PATH="/",
        N8N_PUBLIC_URL="https://n8n.example.com/",
        AI_DOMAIN="chat.example.com",
    )
    n8n = service_env(env, "n8n")
    assert (n8n["N8N_PATH"], n8n["N8N_EDITOR_BASE_URL"]) == ("/", "https://n8n.example.com/")
    assert service_env(env, "nginx")["N8N_DOMAIN"] == "n8n.example.com"
    assert service_env(env, "openwebui")["WEBUI_URL"] == "https://chat.example.com"


def test_n8n_gets_what_the_shipped_workflows_read(env: dict[str, str]) -> None:
    """The workflows read no $env (n8n 2.x blocks it); the first start fills their Config nodes and
    credentials from the MATHNOTES_* variables docker/n8n/prepare-import.mjs reads."""
    n8n = service_env(env, "n8n")
    assert not any("$env" in path.read_text() for path in N8N_WORKFLOWS.glob("*.json"))
    read = set(re.findall(r"\b(MATHNOTES_[A-Z_]+)\b", (REPO / "docker" / "n8n" / "prepare-import.mjs").read_text()))
    given = set(n8n) | {"MATHNOTES_INFLUX_TOKEN"}  # exported by docker/n8n/docker-entrypoint.sh from its _FILE
    assert {"MATHNOTES_CHAT_MODEL", "MATHNOTES_NOTIFY_URL"} <= read <= given, f"not set for n8n: {sorted(read - given)}"
    # the chat credential imported on the first start defaults to DashScope, like Open WebUI
    assert (n8n["MATHNOTES_CHAT_BASE_URL"], n8n["MATHNOTES_CHAT_API_KEY"]) == (
        env["DASHSCOPE_BASE_URL"],
        env["DASHSCOPE_API_KEY"],
    )
    assert n8n["MATHNOTES_INFLUX_DB"] == env["INFLUX_BUCKET"] and n8n["MATHNOTES_INFLUX_TOKEN_FILE"]


def test_node_red_gets_what_the_shipped_flows_need(env: dict[str, str]) -> None:
    nodered = service_env(env, "nodered")
    in_properties = {name for path in FLOWS.glob("*.json") for name in re.findall(r"\$\{(\w+)\}", path.read_text())}
    assert {"MQTT_HOST", "MQTT_PORT"} <= in_properties
    assert {"MQTT_HOST", "MQTT_PORT", "MQTT_USERNAME", "MQTT_PASSWORD", "VISION_URL", "SITE"} <= set(nodered)
    assert nodered["MQTT_PASSWORD"] == env["NODERED_MQTT_PASSWORD"]


def test_grafana_gets_what_its_provisioning_reads(env: dict[str, str]) -> None:
    grafana = service_env(env, "grafana")
    files = (REPO / "grafana" / "provisioning").rglob("*.yaml")
    read = {name for path in files for name in re.findall(r"\$\{(\w+)\}", path.read_text())}
    given = set(grafana) | {resolved_services(env)["grafana"]["entrypoint"][2]}  # INFLUX_TOKEN, from its file
    assert read and read <= given, f"not set for Grafana: {sorted(read - given)}"
    assert grafana["GF_SERVER_ROOT_URL"] == f"https://{DOMAIN}/grafana/" and grafana["GF_SERVER_SERVE_FROM_SUB_PATH"]


@pytest.mark.parametrize("service", ["vision", "ingest", "ingest-2"])
def test_our_services_accept_their_environment(env: dict[str, str], service: str) -> None:
    values = service_env(env, service)
    cls = VisionSettings if service == "vision" else IngestSettings
    settings = load(cls, values, env_file="/nonexistent/.env")  # raises ConfigError on a bad value
    assert settings.mqtt.host == "mosquitto" and settings.mqtt.password
    if isinstance(settings, IngestSettings):
        assert settings.influx_url.startswith("http://influxdb:8086")
        assert settings.shared_group == "ingest" and settings.port == 3002
    elif isinstance(settings, VisionSettings):
        assert settings.port == 3001 and settings.redis_url.startswith("redis://:")


KEYS = ["VISION_API_KEYS", "INGEST_API_KEYS", "NODERED_VISION_API_KEY", "N8N_VISION_API_KEY"]
KEYS += ["OPENWEBUI_VISION_API_KEY"]


@pytest.mark.parametrize("name", KEYS)
def test_the_apis_do_not_start_without_their_keys(env: dict[str, str], name: str) -> None:
    assert env[name], f"scripts/init-env.sh left {name} empty"
    with pytest.raises(MissingVariable, match=name):
        resolved_services({**env, name: ""})


def test_every_caller_in_the_stack_holds_a_key_the_vision_api_accepts(env: dict[str, str]) -> None:
    vision = load(VisionSettings, service_env(env, "vision"), env_file="/nonexistent/.env")
    callers = {
        "nodered": service_env(env, "nodered")["VISION_API_KEY"],
        "n8n": service_env(env, "n8n")["MATHNOTES_API_KEY"],
        "openwebui": env["OPENWEBUI_VISION_API_KEY"],  # pasted into the tool's API_KEY valve
        "yours": env["VISION_API_KEYS"],
    }
    assert len(set(callers.values())) == len(callers), "each caller has its own key"
    assert set(callers.values()) == set(vision.api_keys)
    for service in ("ingest", "ingest-2"):
        ingest = load(IngestSettings, service_env(env, service), env_file="/nonexistent/.env")
        assert ingest.api_keys == (env["INGEST_API_KEYS"],)
    assert env["DASHSCOPE_API_KEY"] == env["DEEPSEEK_API_KEY"] == ""  # model providers' keys stay yours to fill


def test_open_webui_starts_closed(env: dict[str, str]) -> None:
    webui = service_env(env, "openwebui")
    # Open WebUI 0.12's names (0.6's ENABLE_API_KEY is no longer read)
    assert (webui["ENABLE_SIGNUP"], webui["ENABLE_API_KEYS"], webui["ENABLE_API_KEYS_ENDPOINT_RESTRICTIONS"]) == (
        "false",
        "false",
        "true",
    )
    assert webui["API_KEYS_ALLOWED_ENDPOINTS"].split(",") == ["/api/chat/completions", "/api/models"]
    # the admin account exists from the first start, not from the first visitor: Open WebUI 0.12 creates it
    # from these while it has no user (tests/openwebui signs in with the account a real 0.12.4 made)
    assert webui["WEBUI_ADMIN_EMAIL"] == env["N8N_OWNER_EMAIL"]
    assert webui["WEBUI_ADMIN_PASSWORD"] == env["OPENWEBUI_ADMIN_PASSWORD"] != ""
    assert len(webui["WEBUI_ADMIN_PASSWORD"].encode()) <= 72  # bcrypt's limit
    assert "command" not in resolved_services(env)["openwebui"]  # the image's own start, nothing of ours first
    with pytest.raises(MissingVariable, match="OPENWEBUI_ADMIN_PASSWORD"):
        resolved_services({**env, "OPENWEBUI_ADMIN_PASSWORD": ""})


def test_a_missing_required_variable_names_itself(env: dict[str, str]) -> None:
    env = {**env, "DOMAIN": ""}
    with pytest.raises(MissingVariable, match="DOMAIN"):
        resolved_services(env)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "a"),
        ("${UNSET:-x}", "x"),
        ("${EMPTY:-x}", "x"),
        ("${EMPTY-x}", ""),
        ("${UNSET:-https://${A}/n8n/}", "https://a/n8n/"),
        ("$$HOME and $${!}", "$HOME and ${!}"),
        ("$A-$B", "a-"),
    ],
)
def test_interpolation_rules(text: str, expected: str) -> None:
    assert interpolate(text, {"A": "a", "EMPTY": ""}) == expected
