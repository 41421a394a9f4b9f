"""The settings layer: environment over .env, empty means unset, one-line errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from mathnotes.common.logs import setup_logging
from mathnotes.common.settings import CommonSettings, ConfigError, describe, load, mqtt_url, port, secrets_of, setting
from mathnotes.ingest.settings import IngestSettings
from mathnotes.vision.settings import VisionSettings


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    vision = load(VisionSettings, {}, env_file=str(tmp_path / "none.env"))
    assert vision.port == 3001
    assert vision.dashscope_base_url == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert vision.vision_model == "qwen3-vl-plus"
    assert (vision.rate_limit_window_ms, vision.rate_limit_max_requests) == (900000, 100)
    ingest = load(IngestSettings, {}, env_file=str(tmp_path / "none.env"))
    assert ingest.port == 3002
    assert ingest.influx_api == "v2"
    assert ingest.log_format == "json"


def test_environment_overrides_dotenv_and_empty_counts_as_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=4000\nVISION_MODEL=qwen-vl-max\nLOG_LEVEL=debug\n")
    settings = load(VisionSettings, {"PORT": "4100", "LOG_LEVEL": ""}, env_file=str(env_file))
    assert settings.port == 4100
    assert settings.vision_model == "qwen-vl-max"
    assert settings.log_level == "debug"  # the empty environment value does not hide .env's
    blank = load(VisionSettings, {"PORT": "  "}, env_file=str(tmp_path / "missing"))
    assert blank.port == 3001


def test_ingest_names_a_bad_influx_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^INFLUX_URL: expected an http:// or https:// URL"):
        load(IngestSettings, {"INFLUX_URL": "influx:8086"}, env_file=str(tmp_path / "none"))


def test_env_file_variable_names_the_file(tmp_path: Path) -> None:
    other = tmp_path / "prod.env"
    other.write_text("INGEST_PORT=3999\n")
    assert load(IngestSettings, {"ENV_FILE": str(other)}).port == 3999


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "abc"}, "PORT: expected an integer from 1 to 65535, got 'abc'"),
        ({"PORT": "70000"}, "PORT: expected an integer from 1 to 65535, got '70000'"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT: expected one of json, text, got 'xml'"),
        ({"MQTT_URL": "http://x"}, "MQTT_URL: expected a URL like mqtt://user:pass@host:1883"),
        ({"DASHSCOPE_BASE_URL": "dashscope:443"}, "DASHSCOPE_BASE_URL: expected an http:// or https:// URL"),
        ({"RATE_LIMIT_MAX_REQUESTS": "0"}, "RATE_LIMIT_MAX_REQUESTS: expected an integer from 1"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(VisionSettings, env, env_file=str(tmp_path / "none"))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_required_and_secret_settings(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Needs(CommonSettings):
        token: str = setting("NEEDED_TOKEN", parse=port, secret=True)

    with pytest.raises(ConfigError, match=r"^NEEDED_TOKEN is required but not set$"):
        load(Needs, {}, env_file=str(tmp_path / "none"))
    with pytest.raises(ConfigError) as err:
        load(Needs, {"NEEDED_TOKEN": "sk-very-secret"}, env_file=str(tmp_path / "none"))
    assert "sk-very-secret" not in str(err.value) and "(hidden)" in str(err.value)


def test_mqtt_url_parts() -> None:
    target = mqtt_url("mqtts://dev%40site:p%3Ass@broker.example:8884")
    assert (target.host, target.port, target.tls) == ("broker.example", 8884, True)
    assert (target.username, target.password) == ("dev@site", "p:ss")
    assert "p:ss" not in repr(target) and "p:ss" not in target.redacted()
    assert mqtt_url("mqtt://localhost").port == 1883


def test_secrets_are_redacted_from_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load(
        VisionSettings,
        {"DASHSCOPE_API_KEY": "sk-abcdef123456", "MQTT_URL": "mqtt://u:brokerpass@h:1883", "LOG_FORMAT": "json"},
        env_file=str(tmp_path / "none"),
    )
    assert set(secrets_of(settings)) == {"sk-abcdef123456", "brokerpass"}
    setup_logging("info", "json", secrets_of(settings))
    logging.getLogger("t").error("upstream said key sk-abcdef123456 is bad", extra={"url": "mqtt://u:brokerpass@h"})
    err = capsys.readouterr().err
    assert "sk-abcdef123456" not in err and "brokerpass" not in err
    assert '"msg": "upstream said key *** is bad"' in err


def test_every_setting_is_documented() -> None:
    for cls in (VisionSettings, IngestSettings):
        rows = describe(cls)
        assert {"LOG_LEVEL", "LOG_FORMAT", "MQTT_URL", "MQTT_CA_FILE"} <= {r[0] for r in rows}
        assert all(doc for _env, _default, doc in rows), cls


def test_each_service_lists_only_the_settings_it_reads() -> None:
    vision = {env for env, _default, _doc in describe(VisionSettings)}
    ingest = {env for env, _default, _doc in describe(IngestSettings)}
    assert not {env for env in vision if env.startswith(("INFLUX_", "INGEST_"))}, "vision never reads these"
    assert {"INFLUX_URL", "INFLUX_TOKEN", "INFLUX_ORG", "INFLUX_BUCKET", "INFLUX_API"} <= ingest
    assert not {env for env in ingest if env.startswith(("VISION_", "DASHSCOPE_"))}
