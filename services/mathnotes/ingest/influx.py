"""Writing line protocol to InfluxDB: v2 through influxdb-client, or v1 ``/write``.

Both writers take a list of lines and either return, or raise a :class:`~.errors.WriteError`:

    WriteError
     ├── Retryable     429, 5xx, timeouts, connection failures (``retry_after`` seconds, if told)
     ├── TooLarge      413: the caller splits the batch
     └── Refused       400/422 and other 4xx: some line is bad; the caller isolates it

Bodies are gzip-compressed, timestamps are nanoseconds.
"""

from __future__ import annotations

import gzip
from typing import Any, Protocol

import requests
import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from .errors import Refused, Retryable, TooLarge, WriteError
from .settings import IngestSettings

__all__ = ["Writer", "make_writer"]


class Writer(Protocol):
    def write(self, lines: list[str]) -> None: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _classify(status: int, message: str, retry_after: str | None) -> WriteError:
    text = f"InfluxDB answered {status}: {message[:300]}"
    if status == 413:
        return TooLarge(text, status)
    if status == 429 or status >= 500:
        return Retryable(text, status, _retry_after(retry_after))
    if status in (401, 403, 404):
        return Retryable(text, status)  # misconfiguration or a missing bucket: keep the data, retry
    return Refused(text, status)


class V1Writer:
    """``POST /write?db=…&rp=…&precision=ns`` (every InfluxDB 1.x, and 2.x/3.x compatibility)."""

    def __init__(self, url: str, database: str, token: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        db, _, rp = database.partition("/")
        self.params = {"db": db, "precision": "ns", **({"rp": rp} if rp else {})}
        self.session = requests.Session()
        self.timeout = timeout
        if ":" in token:
            user, _, password = token.partition(":")
            self.session.auth = (user, password)
        elif token:
            self.session.headers["Authorization"] = f"Token {token}"

    def write(self, lines: list[str]) -> None:
        body = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
        try:
            resp = self.session.post(
                f"{self.url}/write",
                params=self.params,
                data=body,
                headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
                timeout=self.timeout,
            )
        except requests.RequestException as err:
            raise Retryable(f"InfluxDB unreachable: {type(err).__name__}") from None
        if resp.status_code != 204:
            raise _classify(resp.status_code, resp.text, resp.headers.get("Retry-After"))

    def ping(self) -> bool:
        try:
            return self.session.get(f"{self.url}/ping", timeout=2).status_code == 204
        except requests.RequestException:
            return False

    def close(self) -> None:
        self.session.close()


class V2Writer:
    """The v2 write API through influxdb-client's synchronous WriteApi (no hidden buffer, no retries)."""

    def __init__(self, url: str, org: str, bucket: str, token: str, timeout: float = 10.0) -> None:
        self.client = InfluxDBClient(
            url=url, token=token or "unused", org=org, timeout=int(timeout * 1000), enable_gzip=True, retries=False
        )
        self.api = self.client.write_api(write_options=SYNCHRONOUS)
        self.bucket, self.org = bucket, org

    def write(self, lines: list[str]) -> None:
        try:
            self.api.write(bucket=self.bucket, org=self.org, record="\n".join(lines), write_precision=WritePrecision.NS)  # type: ignore[arg-type]
        except ApiException as err:
            headers: Any = err.headers or {}
            raise _classify(int(err.status or 0), str(err.body or err.reason), headers.get("Retry-After")) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise Retryable(f"InfluxDB unreachable: {type(err).__name__}") from None

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def close(self) -> None:
        self.client.close()


def make_writer(settings: IngestSettings) -> Writer:
    if settings.influx_api == "v1":
        return V1Writer(settings.influx_url, settings.influx_bucket, settings.influx_token)
    return V2Writer(settings.influx_url, settings.influx_org, settings.influx_bucket, settings.influx_token)
