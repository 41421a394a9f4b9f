"""The vision README documents every setting with its real default and every metric /metrics exports."""

from __future__ import annotations

from pathlib import Path

from mathnotes.vision.metrics import VisionMetrics
from mathnotes.vision.settings import VisionSettings
from tests.readme_tables import metrics_problems, settings_problems

README = Path(__file__).resolve().parents[2] / "services" / "mathnotes" / "vision" / "README.md"


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    problems = settings_problems(README, VisionSettings)
    assert not problems, "\n".join(problems)


def test_every_metric_is_in_the_readme_and_every_listed_metric_exists() -> None:
    problems = metrics_problems(README, VisionMetrics().registry)
    assert not problems, "\n".join(problems)


# --- the checker finds what it should (a synthetic README) -------------------------------------------------

SYNTHETIC = """# svc

## Configuration

| variable | default | meaning |
| --- | --- | --- |
| `LOG_LEVEL` / `LOG_FORMAT` | `info` / `json` | log threshold; format |
| `VISION_RETRIES` | `3` | retries |
| `VISION_GONE` | `1` | a setting the code no longer has |

## Metrics

| metric | type | labels |
| --- | --- | --- |
| `vision_requests_total{status}`, `vision_nothing_total` | counter | — |
"""


def test_the_checker_reports_wrong_missing_and_extra_rows(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(SYNTHETIC)
    settings = settings_problems(readme, VisionSettings)
    assert "VISION_RETRIES: the README says '3', the code '2'" in settings
    assert "VISION_GONE is in the README but not a setting" in settings
    assert "VISION_MODEL is not in the README" in settings
    assert not any(p.startswith(("LOG_LEVEL", "LOG_FORMAT")) for p in settings), settings  # a pair, both right
    metrics = metrics_problems(readme, VisionMetrics().registry)
    assert "vision_nothing_total is in the README but not exported" in metrics
    assert "vision_tokens_total is exported but not in the README" in metrics
    assert not any(p.startswith("vision_requests_total") for p in metrics)
