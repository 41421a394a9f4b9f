"""One typed settings layer for every service.

Each service declares a frozen dataclass whose fields name their environment
variable with :func:`setting`. :func:`load` fills it from the process
environment, falling back to a ``.env`` file (``ENV_FILE`` names another one).
An empty value counts as unset. A missing or malformed value raises
:class:`ConfigError` whose message is one line naming the variable and what
was expected; console scripts print it and exit 2.

    @dataclass(frozen=True)
    class MySettings(CommonSettings):
        port: int = setting("PORT", 3001, parse=port)

Parsers are plain functions ``str -> T`` that raise ``ValueError`` with a
short description of what was expected.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

__all__ = [
    "CommonSettings",
    "ConfigError",
    "MqttTarget",
    "boolean",
    "choice",
    "csv",
    "describe",
    "http_url",
    "integer",
    "load",
    "mqtt_url",
    "number",
    "port",
    "secrets_of",
    "setting",
    "text",
]

S = TypeVar("S")
REQUIRED: Any = object()


class ConfigError(Exception):
    """A setting is missing or malformed; ``str(err)`` is the one-line message."""


# --- parsers -----------------------------------------------------------------


def text(raw: str) -> str:
    return raw


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        bounds = f" from {lo}" if lo is not None else ""
        bounds += f" to {hi}" if hi is not None else ""
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"an integer{bounds}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"an integer{bounds}")
        return value

    return parse


def number(lo: float | None = None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError("a number") from None
        if lo is not None and value < lo:
            raise ValueError(f"a number of at least {lo}")
        return value

    return parse


port = integer(1, 65535)


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("true or false")


def choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError("one of " + ", ".join(options))
        return value

    return parse


def csv(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def http_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("an http:// or https:// URL")
    return raw.strip().rstrip("/")


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)

    def redacted(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def mqtt_url(raw: str) -> MqttTarget:
    expected = "a URL like mqtt://user:pass@host:1883 or mqtts://host:8883"
    try:
        parts = urlsplit(raw.strip())
        explicit_port = parts.port
    except ValueError:
        raise ValueError(expected) from None
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname:
        raise ValueError(expected)
    tls = parts.scheme in {"mqtts", "ssl"}
    return MqttTarget(
        host=parts.hostname,
        port=explicit_port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


# --- declaring and loading -----------------------------------------------------


def setting(
    env: str,
    default: Any = REQUIRED,
    *,
    parse: Callable[[str], Any] = text,
    secret: bool = False,
    doc: str = "",
) -> Any:
    """Declare a dataclass field read from environment variable ``env``."""
    meta = {"env": env, "parse": parse, "secret": secret, "doc": doc}
    if default is REQUIRED:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple or frozen value as a setting default")
    return dataclasses.field(default=default, metadata=meta)


def read_sources(environ: Mapping[str, str] | None = None, env_file: str | None = None) -> dict[str, str]:
    """The process environment over the ``.env`` file, empty values dropped."""
    environ = os.environ if environ is None else environ
    path = Path(env_file or environ.get("ENV_FILE") or ".env")
    merged: dict[str, str] = {}
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None and v.strip()})
    merged.update({k: v for k, v in environ.items() if v.strip()})
    return merged


def load(cls: type[S], environ: Mapping[str, str] | None = None, env_file: str | None = None) -> S:
    """Build settings class ``cls`` from the environment (and ``.env``)."""
    values = read_sources(environ, env_file)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f.metadata.get("env")
        if name is None:
            continue
        raw = values.get(name)
        if raw is None:
            if f.default is dataclasses.MISSING:
                raise ConfigError(f"{name} is required but not set")
            continue
        try:
            kwargs[f.name] = f.metadata["parse"](raw)
        except ValueError as err:
            shown = "(hidden)" if f.metadata["secret"] else repr(raw[:60])
            raise ConfigError(f"{name}: expected {err}, got {shown}") from None
    settings = cls(**kwargs)
    check = getattr(settings, "validate", None)
    if callable(check):
        check()
    return settings


def secrets_of(settings: object) -> list[str]:
    """Values of every secret field, for the log redaction filter."""
    found: list[str] = []
    for f in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, f.name)
        if f.metadata.get("secret") and isinstance(value, str) and value:
            found.append(value)
        elif isinstance(value, tuple) and f.metadata.get("secret"):
            found.extend(v for v in value if isinstance(v, str) and v)
        elif isinstance(value, MqttTarget) and value.password:
            found.append(value.password)
    return found


def describe(cls: type) -> list[tuple[str, Any, str]]:
    """(variable, default, doc) for every setting of ``cls``: used by the docs and ``--help``."""
    rows = []
    for f in dataclasses.fields(cls):
        if "env" in f.metadata:
            default = None if f.default is dataclasses.MISSING else f.default
            rows.append((f.metadata["env"], default, f.metadata["doc"]))
    return rows


@dataclass(frozen=True, kw_only=True)
class CommonSettings:
    """Settings every service shares (the *Configuration* table of the top-level README and ARCHITECTURE.md)."""

    log_level: str = setting(
        "LOG_LEVEL", "info", parse=choice("debug", "info", "warning", "error"), doc="log threshold"
    )
    log_format: str = setting("LOG_FORMAT", "json", parse=choice("json", "text"), doc="json or text logs")
    site: str = setting("SITE", "local", doc="site tag for the service's own telemetry topics")
    mqtt: MqttTarget = setting(
        "MQTT_URL", mqtt_url("mqtt://127.0.0.1:1883"), parse=mqtt_url, doc="broker, mqtt[s]://user:pass@host:port"
    )
    mqtt_ca_file: str = setting(
        "MQTT_CA_FILE", "", doc="CA certificate (PEM) to verify an mqtts:// broker; default: the system's CAs"
    )
