"""The service README documents every setting with its real default (Telegraf-plugin style) and every metric."""

from __future__ import annotations

from pathlib import Path

from mathnotes.ingest.metrics import IngestMetrics
from mathnotes.ingest.settings import IngestSettings
from tests.readme_tables import metrics_problems, settings_problems

README = Path(__file__).resolve().parents[2] / "services" / "mathnotes" / "ingest" / "README.md"


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    problems = settings_problems(README, IngestSettings)
    assert not problems, "\n".join(problems)


def test_every_metric_is_in_the_readme_and_every_listed_metric_exists() -> None:
    problems = metrics_problems(README, IngestMetrics().registry)
    assert not problems, "\n".join(problems)
