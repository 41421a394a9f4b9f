"""InfluxDB's own backup, on the InfluxDB that runs here (1.6), while points keep arriving.

Production runs InfluxDB 2.8 and ``scripts/backup.sh`` uses its ``influx backup`` (restored by
``scripts/restore.sh`` with ``influx restore --full``); that command path is shellchecked with the
scripts. What can run here is 1.6's ``influxd backup -portable`` / ``influxd restore -portable``: the
backup is taken while a writer keeps adding points, restored into a fresh server, and read back.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

from tests.support.servers import InfluxDB1, StartServer, wait_until

DB = "backup_probe"
NS = 1_700_000_000_000_000_000


def influxd() -> str:
    found = shutil.which("influxd") or shutil.which("influxd", path="/usr/sbin:/usr/bin")
    assert found, "influxd is not installed (./stack installs it)"
    return found


def count(server: InfluxDB1) -> int:
    rows = server.values('SELECT count("value") FROM "temperature"', DB)
    return int(rows[0][1]) if rows else 0


def test_portable_backup_taken_while_writing_restores_into_a_fresh_server(
    influxdb: InfluxDB1, tmp_path: Path, start_server: StartServer
) -> None:
    influxdb.create_database(DB)
    influxdb.write(DB, [f"temperature,device=d{i % 7} value={i} {NS + i * 10**9}" for i in range(5000)])
    stop = threading.Event()
    written = [5000]

    def keep_writing() -> None:
        while not stop.is_set():
            n = written[0]
            influxdb.write(DB, [f"temperature,device=late value={n + i} {NS + (n + i) * 10**9}" for i in range(100)])
            written[0] = n + 100

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        floor = written[0]
        backup = subprocess.run(
            [influxd(), "backup", "-portable", "-database", DB, "-host", f"127.0.0.1:{influxdb.rpc_port}",
             str(tmp_path / "backup")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        stop.set()
        writer.join(30)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    fresh = start_server(InfluxDB1(tmp_path / "fresh"))
    done = subprocess.run(
        [influxd(), "restore", "-portable", "-host", f"127.0.0.1:{fresh.rpc_port}", str(tmp_path / "backup")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # the restored shards become readable shortly after the command returns (a ceiling, not a timing claim)
    wait_until(lambda: count(fresh) >= floor, 30)
    restored = count(fresh)
    assert floor <= restored <= written[0], (floor, restored, written[0])
    early = f"time < {NS + 50 * 10**9}"
    first = fresh.values(f'SELECT "value" FROM "temperature" WHERE "device" = \'d0\' AND {early}', DB)
    assert [row[1] for row in first] == [0, 7, 14, 21, 28, 35, 42, 49]
    total = fresh.values('SELECT sum("value") FROM "temperature" WHERE "device" != \'late\'', DB)
    assert total[0][1] == sum(range(5000))
