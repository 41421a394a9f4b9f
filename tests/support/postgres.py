"""PostgreSQL 16 with pgvector for tests and benchmarks: the binaries of the PyPI wheel ``pgserver``.

``pgserver`` (a dev dependency) bundles PostgreSQL 16 and pgvector 0.6.2 (HNSW included; no contrib
modules such as ``pg_trgm``). We run its ``initdb`` and ``postgres`` directly, not its Python API, so that
the server listens on a free loopback port (no Unix socket) and is a :class:`Managed` process like the
others: ``stop()`` is PostgreSQL's fast shutdown, ``kill()`` SIGKILLs the postmaster *and* its backends (a
crash; the next ``start()`` recovers from the WAL), ``restart()`` keeps the data.

PostgreSQL refuses to run as root; as root the server runs as the system user ``pgserver`` (the user
``pgserver`` itself would create; made with ``useradd --system`` when missing), and its data folder is
not in ``workdir`` (root's pytest folders are ``0700``, and pytest resets that mode whenever a session
starts) but in a folder of its own under ``<tmp>/mathnotes-postgres/`` (``workdir/data`` links to it),
removed when the :class:`Postgres` object goes, or by the next one when its test process was killed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.servers import Managed, ServerUnavailable, wait_until

__all__ = ["Postgres", "pgserver_bindir"]

RUN_AS = "pgserver"  # the system user PostgreSQL runs as when we are root
SCRATCH = Path(tempfile.gettempdir()) / "mathnotes-postgres"  # its data folders then


def pgserver_bindir() -> Path:
    """``bin/`` of the PostgreSQL that the ``pgserver`` wheel bundles (found without importing the package)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise ServerUnavailable("pgserver is not installed (the dev extra has it: pip install -e '.[dev]')")
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bindir / "postgres").exists():
        raise ServerUnavailable(f"pgserver has no PostgreSQL binaries in {bindir}")
    return bindir


def _reachable_bindir(bindir: Path) -> Path:
    """``bindir``'s installation, copied once under :data:`SCRATCH` (~40 MB): PostgreSQL's own user must reach its
    binaries, and a checkout in a private folder (``mktemp -d`` is mode 0700) hides the venv from that user.
    The layout is kept (``pgserver/pginstall`` beside ``pgserver.libs``: the binaries' rpath points there)."""
    site = bindir.parents[2]  # .../site-packages, holding pgserver/pginstall/bin and pgserver.libs
    target = SCRATCH / "pgserver-install"
    if not (target / "pgserver" / "pginstall" / "bin" / "postgres").exists():
        SCRATCH.mkdir(mode=0o711, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix="pgserver-copy-", dir=SCRATCH))
        shutil.copytree(site / "pgserver" / "pginstall", partial / "pgserver" / "pginstall", symlinks=True)
        if (site / "pgserver.libs").is_dir():
            shutil.copytree(site / "pgserver.libs", partial / "pgserver.libs", symlinks=True)
        for folder in (partial, partial / "pgserver"):
            os.chmod(folder, 0o755)
        try:
            os.rename(partial, target)  # atomic: a concurrent copier's is as good
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
    return target / "pgserver" / "pginstall" / "bin"


def _system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if useradd is None:
        raise ServerUnavailable(f"PostgreSQL does not run as root and there is no user {name!r} nor useradd") from None
    subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True
    )
    return pwd.getpwnam(name)


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (state first; [19] is the start time); empty when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return raw[raw.rindex(")") + 2 :].split()


def _alive(pid: int) -> bool:
    """Running, not a zombie (a zombie has left the shared memory already)."""
    fields = _stat(pid)
    return bool(fields) and fields[0] not in "ZX"


def _identity(pid: int) -> str:
    """A process's pid and start time: the same pid later is another process unless both match."""
    fields = _stat(pid)
    return f"{pid} {fields[19] if fields else '?'}"


def _abandoned(home: Path) -> bool:
    """Whether ``home`` was left by a test process that is gone, and its server has stopped too."""
    try:
        try:
            owner = (home / "owner").read_text()
        except FileNotFoundError:
            return time.time() - home.stat().st_mtime > 600  # being made now, or left half-made long ago
        if owner == _identity(int(owner.split()[0])):
            return False
        postmaster = int((home / "data" / "postmaster.pid").read_text().split()[0])
    except FileNotFoundError:
        return True  # no server ever started there, or it stopped cleanly
    except (OSError, ValueError, IndexError):
        return False
    return not _alive(postmaster)


def _scratch_home(owner: pwd.struct_passwd) -> Path:
    """A new folder under :data:`SCRATCH` for one server's data, owned by ``owner``; first, the folders of
    test processes that are gone (killed before they could clean up) and whose server has stopped go."""
    SCRATCH.mkdir(mode=0o711, exist_ok=True)
    for old in SCRATCH.glob("pg-*"):
        if _abandoned(old):
            shutil.rmtree(old, ignore_errors=True)
    home = Path(tempfile.mkdtemp(prefix="pg-", dir=SCRATCH))
    (home / "owner").write_text(_identity(os.getpid()))
    os.chown(home, owner.pw_uid, owner.pw_gid)
    return home


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


class Postgres(Managed):
    """PostgreSQL + pgvector on loopback; ``.url`` is a ``DATABASE_URL`` for its database ``mathnotes``.

    The role ``mathnotes`` (password ``mathnotes``, a superuser: it may ``CREATE EXTENSION vector``)
    logs in over TCP with SCRAM. ``settings`` are extra ``postgres -c`` options; the defaults trade
    durability against an OS crash for speed (``fsync=off``), which a killed *process* does not lose.
    """

    name = "postgres"
    ready_timeout = 60.0
    user = "mathnotes"
    password = "mathnotes"  # a throwaway test server on loopback
    database = "mathnotes"
    defaults: Mapping[str, str] = {
        "fsync": "off",
        "full_page_writes": "off",
        "max_connections": "100",
        "shared_buffers": "128MB",
        "log_min_messages": "warning",
    }

    def __init__(
        self, workdir: str | os.PathLike[str], port: int | None = None, settings: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(workdir, port)
        self.bindir = pgserver_bindir()
        self.settings = {**self.defaults, **(settings or {})}
        self._owner = _system_user(RUN_AS) if os.geteuid() == 0 else None
        if self._owner is not None:
            self.bindir = _reachable_bindir(self.bindir)
        self.home = self.workdir if self._owner is None else _scratch_home(self._owner)
        self.data = self.home / "data"
        if self.home != self.workdir:
            weakref.finalize(self, shutil.rmtree, self.home, True)
            (self.workdir / "data").unlink(missing_ok=True)
            (self.workdir / "data").symlink_to(self.data)

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    # --- process ---------------------------------------------------------------------------------

    def argv(self) -> list[str]:
        options = {"listen_addresses": self.host, "port": str(self.port), "unix_socket_directories": ""}
        argv = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for key, value in {**options, **self.settings}.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def popen_options(self) -> Mapping[str, Any]:
        if self._owner is None:
            return {}
        return {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}

    def ready(self) -> bool:
        probe = [str(self.bindir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-t", "1"]
        return subprocess.run(probe, check=False, timeout=5).returncode == 0

    def start(self) -> Postgres:
        if self.running:
            return self
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        super().start()
        if not self.sql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'", database="postgres"):
            self.sql(f"CREATE DATABASE {self.database}", database="postgres")
        return self

    def _initdb(self) -> None:
        self.data.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.home / "initdb.pw"
        pwfile.write_text(self.password + "\n")
        if self._owner is not None:
            for path in (self.data, pwfile):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        argv = [
            str(self.bindir / "initdb"),
            *("-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}"),
            *("--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8", "--locale=C", "--no-sync"),
        ]
        try:
            subprocess.run(argv, check=True, capture_output=True, cwd=self.home, timeout=120, **self.popen_options())
        except subprocess.CalledProcessError as exc:
            raise ServerUnavailable(f"initdb failed:\n{exc.stdout.decode()}\n{exc.stderr.decode()}") from exc
        finally:
            pwfile.unlink()

    def stop(self, timeout: float = 20.0) -> int | None:
        """Fast shutdown (SIGINT: clients are disconnected; SIGTERM would wait for them)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return super().stop(timeout)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends at once, as a crash would; ``start()`` then recovers."""
        backends: list[int] = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP)  # no new backends while we collect them
            backends = _children(self.proc.pid)
            self.proc.kill()
            for pid in backends:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        super().kill()
        # gone, not only signalled: a backend still attached to the shared memory would stop the next start
        wait_until(lambda: not any(_alive(pid) for pid in backends), 10, 0.02)

    # --- SQL through the bundled psql (no Python driver needed) ----------------------------------

    def sql(self, statement: str, database: str | None = None) -> str:
        """Run ``statement`` with ``psql`` and return its unaligned, tuples-only output (stripped)."""
        argv = [
            str(self.bindir / "psql"),
            *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"),
            *("-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database or self.database),
            *("-c", statement),
        ]
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "5"}
        done = subprocess.run(argv, check=False, capture_output=True, text=True, env=env, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (named ``name`` or ``test_<hex>``); returns its URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        self.sql(f"CREATE DATABASE {name}", database="postgres")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever is still connected to it."""
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", database="postgres")
