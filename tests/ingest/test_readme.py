"""The service README documents every setting with its real default (Telegraf-plugin style)."""

from __future__ import annotations

import re
from pathlib import Path

from mathnotes.common.settings import describe
from mathnotes.ingest.settings import IngestSettings

README = Path(__file__).resolve().parents[2] / "services" / "mathnotes" / "ingest" / "README.md"


def shown(default: object) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return ",".join(default) if default else "(empty)"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if default == "":
        return "(empty)"
    return str(default)


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    rows = {}
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            for name in cells[0].split("/"):
                rows[name.strip().strip("`")] = cells[1]
    for env, default, _doc in describe(IngestSettings):
        if env == "MQTT_URL":
            continue  # shown as a URL
        assert env in rows, f"{env} is not documented in the README"
        if env in ("LOG_LEVEL", "LOG_FORMAT", "INGEST_HOST", "INGEST_PORT"):
            continue  # documented in pairs: `a` / `b`
        documented = rows[env].replace("`", "").split()[0].rstrip(":")
        assert documented == shown(default), (env, rows[env], default)


def test_every_metric_is_in_the_readme_and_every_listed_metric_exists() -> None:
    from mathnotes.ingest.metrics import IngestMetrics

    section = README.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for line in section.splitlines():
        cells = line.replace("\\|", "/").strip().strip("|").split("|")
        if len(cells) >= 3 and cells[1].strip() in ("counter", "gauge", "histogram"):
            listed |= {name.split("{")[0] for name in re.findall(r"`([a-z_]+[^`]*)`", cells[0])}
    exported = set()
    for family in IngestMetrics().registry.collect():
        exported.add(family.name + ("_total" if family.type == "counter" else ""))
    assert listed == exported
