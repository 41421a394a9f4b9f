"""Topic templates: MQTT topic levels to a measurement and tags. Pure code.

Like Telegraf's ``topic_parsing``: ``telemetry/{site}/{device}/{measurement}``
matches ``telemetry/lab/t1/temperature`` and gives measurement
``temperature`` with tags ``site=lab, device=t1``. Literal levels must match,
``+`` matches any level and keeps nothing. Levels past the template's end are
joined to the measurement with ``_`` (``…/SENSOR/extra`` → ``SENSOR_extra``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["TopicMismatch", "TopicTemplate"]


class TopicMismatch(ValueError):
    """The topic does not fit the template."""


@dataclass(frozen=True)
class TopicTemplate:
    template: str

    def __post_init__(self) -> None:
        levels = self.template.split("/")
        names = [lv[1:-1] for lv in levels if lv.startswith("{") and lv.endswith("}")]
        if "measurement" not in names:
            raise ValueError("a topic template needs a {measurement} level")
        if len(names) != len(set(names)) or any(not n for n in names):
            raise ValueError("topic template variables must be named and unique")

    def match(self, topic: str) -> tuple[str, dict[str, str]]:
        """(measurement, tags) for ``topic``; raises :class:`TopicMismatch`."""
        measurement, tags = _match(self.template, topic)
        return measurement, dict(tags)


@lru_cache(maxsize=4096)  # devices publish to the same topics over and over
def _match(template: str, topic: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    parts = topic.split("/")
    levels = template.split("/")
    if len(parts) < len(levels):
        raise TopicMismatch(f"topic {topic!r} has fewer levels than {template!r}")
    values: dict[str, str] = {}
    for level, part in zip(levels, parts, strict=False):
        if level.startswith("{"):
            if not part:
                raise TopicMismatch(f"topic {topic!r} has an empty {level} level")
            values[level[1:-1]] = part
        elif level not in ("+", part):
            raise TopicMismatch(f"topic {topic!r} does not fit {template!r}")
    extra = parts[len(levels) :]
    measurement = "_".join([values.pop("measurement"), *extra])
    return measurement, tuple(values.items())
