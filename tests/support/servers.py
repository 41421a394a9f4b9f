"""Real servers for tests and benchmarks, each on a free loopback port in its own folder.

Every launcher is a :class:`Managed` process: ``start()`` waits until the
server answers, ``stop()`` sends SIGTERM and waits, ``kill()`` sends SIGKILL,
``restart()`` keeps the data folder. Output goes to ``<workdir>/<name>.log``
(``log_text()``). A server binary that is missing raises
:class:`ServerUnavailable`: a failure, never a skip. PostgreSQL + pgvector: ``tests/support/postgres.py``.

Every server starts through :func:`spawn`, which ties it to the test process: it gets SIGTERM when
the thread that started it ends, so no server outlives a pytest that was SIGKILLed (a SIGTERMed
pytest stops them itself: ``tests/conftest.py`` turns SIGTERM into KeyboardInterrupt, so fixtures
finalize).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import requests

__all__ = [
    "InfluxDB1",
    "Managed",
    "Mosquitto",
    "RunService",
    "Server",
    "ServerT",
    "ServerUnavailable",
    "ServiceProcess",
    "StartServer",
    "VictoriaMetrics",
    "console_script",
    "free_port",
    "running",
    "spawn",
    "tied_to_parent",
    "wait_until",
]

LOOPBACK = "127.0.0.1"


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server never became ready."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except (OSError, requests.RequestException):
            pass
        time.sleep(interval)
    return False


def _binary(name: str, *extra_dirs: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs]))
    if not found:
        raise ServerUnavailable(f"{name} is not installed (./stack test installs it)")
    return found


def tied_to_parent(argv: Sequence[str]) -> list[str]:
    """``argv`` run through util-linux ``setpriv --pdeathsig TERM``: SIGTERM when its parent thread ends.

    Only from the main thread (the death signal follows the *thread* that forked, and a worker
    thread ending must not stop a server); unchanged where ``setpriv`` is missing (not Linux).
    SIGTERM rather than SIGKILL so that nginx, gunicorn and the like stop their own workers.
    """
    setpriv = shutil.which("setpriv", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/bin"]))
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return list(argv)
    return [setpriv, "--pdeathsig", "TERM", "--", *argv]


def spawn(argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` for a server a test starts: the process dies with the test process."""
    return subprocess.Popen(tied_to_parent(argv), **popen)


def console_script(name: str) -> str:
    """Path of one of our console scripts, next to the running interpreter first."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else _binary(name)


class Managed:
    """A server process we started; subclasses fill in ``argv`` and ``ready``."""

    name = "server"
    ready_timeout = 30.0

    def __init__(self, workdir: str | os.PathLike[str], port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = LOOPBACK
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / f"{self.name}.log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> Mapping[str, str] | None:
        return None

    def popen_options(self) -> Mapping[str, Any]:
        """More ``subprocess.Popen`` arguments (``user=`` for a server that refuses to run as root)."""
        return {}

    def ready(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=0.5):
            return True

    def start(self) -> Managed:
        if self.running:
            return self
        log = open(self.log_path, "ab")
        self.proc = spawn(
            self.argv(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=self.env(), **self.popen_options()
        )
        log.close()
        if not wait_until(lambda: self._alive_and_ready(), self.ready_timeout):
            tail = self.log_text()[-2000:]
            self.kill()
            raise ServerUnavailable(f"{self.name} did not become ready on port {self.port}:\n{tail}")
        return self

    def _alive_and_ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise ServerUnavailable(f"{self.name} exited early:\n{self.log_text()[-2000:]}")
        return self.ready()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> Managed:
        self.stop()
        return self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Managed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Mosquitto(Managed):
    name = "mosquitto"

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        port: int | None = None,
        *,
        persistence: bool = False,
        extra_conf: str = "",
        autosave_s: int = 1,
    ) -> None:
        super().__init__(workdir, port)
        self.persistence = persistence
        self.extra_conf = extra_conf
        self.autosave_s = autosave_s  # persistence file written every this many seconds (and on SIGUSR1, at exit)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            f"autosave_interval {self.autosave_s}",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "user root" if os.geteuid() == 0 else "",  # as root it would drop to 'mosquitto', unable to persist here
            self.extra_conf,
        ]
        conf.write_text("\n".join(lines) + "\n")
        return [_binary("mosquitto", "/usr/sbin"), "-c", str(conf)]


class InfluxDB1(Managed):
    """Debian's InfluxDB 1.6: v1 ``/write`` and InfluxQL ``/query``."""

    name = "influxdb"

    def __init__(self, workdir: str | os.PathLike[str], port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.rpc_port = free_port()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        d = self.workdir
        conf = d / "influxdb.conf"
        conf.write_text(
            f"""reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"
[meta]
  dir = "{d}/meta"
  logging-enabled = false
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"
[monitor]
  store-enabled = false
[http]
  bind-address = "{self.host}:{self.port}"
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
"""
        )
        return [_binary("influxd", "/usr/sbin"), "-config", str(conf)]

    def ready(self) -> bool:
        return requests.get(f"{self.url}/ping", timeout=1).status_code == 204

    def query(self, q: str, db: str | None = None, epoch: str | None = None) -> dict[str, Any]:
        params = {"q": q}
        if db:
            params["db"] = db
        if epoch:
            params["epoch"] = epoch
        resp = requests.post(f"{self.url}/query", data=params, timeout=30)
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def values(self, q: str, db: str) -> list[list[Any]]:
        """Rows of the first series of the first result (empty when none)."""
        series = self.query(q, db).get("results", [{}])[0].get("series") or []
        return list(series[0]["values"]) if series else []

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def write(self, db: str, lines: str | Sequence[str], precision: str = "ns") -> None:
        body = lines if isinstance(lines, str) else "\n".join(lines)
        resp = requests.post(
            f"{self.url}/write", params={"db": db, "precision": precision}, data=body.encode(), timeout=30
        )
        if resp.status_code != 204:
            raise RuntimeError(f"write failed: {resp.status_code} {resp.text}")


class VictoriaMetrics(Managed):
    """VictoriaMetrics: accepts the InfluxDB v2 write API; series are ``<measurement>_<field>``."""

    name = "victoria-metrics"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        return [
            _binary("victoria-metrics"),
            f"-storageDataPath={self.workdir}/data",
            f"-httpListenAddr={self.host}:{self.port}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-loggerLevel=WARN",
        ]

    def ready(self) -> bool:
        return requests.get(f"{self.url}/health", timeout=1).status_code == 200

    def export(self, match: str = '{__name__!=""}') -> list[dict[str, Any]]:
        """Every stored series matching ``match``, one dict per series (``metric``, ``values``, ``timestamps``)."""
        requests.get(f"{self.url}/internal/force_flush", timeout=10)
        resp = requests.post(f"{self.url}/api/v1/export", data={"match[]": match}, timeout=30)
        resp.raise_for_status()
        return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


class ServiceProcess(Managed):
    """One of our console scripts as a real subprocess, ready when ``health_url`` answers 200."""

    ready_timeout = 60.0

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        health_url: str | None,
        workdir: str | os.PathLike[str],
        name: str | None = None,
        url: str = "",
    ) -> None:
        self.name = name or Path(argv[0]).name
        super().__init__(workdir, port=1)
        self.url = url
        self._argv = [console_script(argv[0]) if os.sep not in argv[0] else argv[0], *argv[1:]]
        self._env = {**os.environ, "LOG_FORMAT": "json", **env}
        self.health_url = health_url

    @classmethod
    def on_free_port(
        cls,
        script: str,
        workdir: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        health: bool = True,
    ) -> ServiceProcess:
        """``mathnotes-vision`` / ``mathnotes-ingest`` (not started) on loopback and a free port.

        The port goes in ``INGEST_PORT`` for ingest and ``PORT`` otherwise; ``env`` wins over
        those. ``.url`` is the base URL and, with ``health``, ``/health`` tells when it is ready.
        """
        port = free_port()
        port_var = "INGEST_PORT" if script.endswith("ingest") else "PORT"
        base = f"http://127.0.0.1:{port}"
        full_env = {port_var: str(port), "HOST": "127.0.0.1", "INGEST_HOST": "127.0.0.1", **(env or {})}
        return cls([script, *args], full_env, f"{base}/health" if health else None, workdir, url=base)

    def argv(self) -> list[str]:
        return list(self._argv)

    def env(self) -> Mapping[str, str]:
        return self._env

    def ready(self) -> bool:
        if self.health_url is None:
            return True
        return requests.get(self.health_url, timeout=2).status_code in {200, 503}

    def send_signal(self, sig: int) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)


# what the ``run_service`` fixture (tests/conftest.py) gives a test: ``run_service(script, env, args, health)``
RunService = Callable[..., ServiceProcess]


class Server(Protocol):
    """Anything the ``start_server`` fixture can run: a :class:`Managed` launcher, ``NginxRig``, ``NodeRed``."""

    def start(self) -> object: ...

    def stop(self) -> object: ...


ServerT = TypeVar("ServerT", bound=Server)


class StartServer(Protocol):
    """What the ``start_server`` fixture (tests/conftest.py) gives a test: ``start_server(server)`` starts
    ``server``, returns it, and the fixture stops it after the test."""

    def __call__(self, server: ServerT, /) -> ServerT: ...


def running(server: ServerT) -> Iterator[ServerT]:
    """For a fixture: ``yield from running(Mosquitto(path))`` starts the server, yields it, and stops it after."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
