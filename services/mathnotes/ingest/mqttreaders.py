"""Which MQTT reader the consumer runs: :class:`~.mqttclient.FastClient` where paho is as it expects, else paho's own.

``FastClient`` overrides paho 2.2 internals for speed (:mod:`~.mqttclient`). A paho-mqtt it was
not written for may lack them or call them differently, and then it would fail, or worse, misread
packets. :func:`fast_reader_problem` checks, before any client is built, that paho's version is in
the range it was written against and that every internal it overrides or calls is there, with the
parameters it passes. ``INGEST_MQTT_READER`` picks:

* ``auto`` (default): ``fast`` when the check passes, else ``stock`` with a warning naming the problem;
* ``fast``: ``FastClient``; start-up fails with the problem when the check does not pass;
* ``stock``: :class:`~.mqttclient.IntakeClient`, paho's own reader (about a third of the speed on a
  backlog drain, the same deliveries), through paho's public API only.

The consumer gets its client from a :class:`ClientFactory` (as Telegraf's MQTT consumer does), so
a test or a benchmark can hand it another; :func:`reader_factory` gives the one for a setting.
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import Protocol

import paho.mqtt
import paho.mqtt.client as mqtt

from .mqttclient import FastClient, IntakeClient

__all__ = ["READERS", "ClientFactory", "fast_client", "fast_reader_problem", "reader_factory", "stock_client"]

log = logging.getLogger("mathnotes.ingest.mqtt")
READERS = ("auto", "fast", "stock")
PAHO_RANGE = ((2, 2), (2, 3))  # FastClient was written against paho-mqtt 2.2.x: at least the first, below the second
# paho's methods FastClient overrides or calls, with their parameters as it uses them
METHODS = {
    "_create_socket": ("self",),
    "_handle_publish": ("self",),
    "_packet_queue": ("self", "command", "packet", "mid", "qos", "info"),
    "_send_puback": ("self", "mid"),
    "loop_read": ("self", "max_packets"),
}
STATE = ("_in_packet", "_sock", "_protocol", "_manual_ack", "_in_callback_mutex", "_userdata")  # on each client
MESSAGE_SLOTS = ("mid", "_topic", "payload", "properties", "qos", "retain", "dup", "state", "timestamp")


class ClientFactory(Protocol):
    """Builds the consumer's MQTT client: paho's ``Client`` API with VERSION2 callbacks, a persistent session
    (MQTT 3.1.1: clean_session off; MQTT 5 asks for clean_start off when it connects), plus what
    :class:`~.mqttclient.IntakeClient` adds."""

    def __call__(self, client_id: str, *, v5: bool = False, manual_ack: bool = True) -> IntakeClient: ...


def _build(cls: type[IntakeClient], client_id: str, v5: bool, manual_ack: bool) -> IntakeClient:
    return cls(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else False,
        manual_ack=manual_ack,
    )


def fast_client(client_id: str, *, v5: bool = False, manual_ack: bool = True) -> IntakeClient:
    """A :class:`~.mqttclient.FastClient`."""
    return _build(FastClient, client_id, v5, manual_ack)


def stock_client(client_id: str, *, v5: bool = False, manual_ack: bool = True) -> IntakeClient:
    """An :class:`~.mqttclient.IntakeClient`: paho's own reader."""
    return _build(IntakeClient, client_id, v5, manual_ack)


def _version(text: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", text)
    if match is None:
        raise ValueError(text)
    return int(match[1]), int(match[2])


def fast_reader_problem(client_class: type = mqtt.Client, version: str = paho.mqtt.__version__) -> str | None:
    """Why ``FastClient`` cannot run over ``client_class`` (paho-mqtt ``version``), or None when it can."""
    try:
        if not PAHO_RANGE[0] <= _version(version) < PAHO_RANGE[1]:
            low, high = (".".join(map(str, v)) for v in PAHO_RANGE)
            return f"paho-mqtt {version} is not the {low}.x it was written for (>={low},<{high})"
    except ValueError:
        return f"paho-mqtt's version {version!r} cannot be read"
    for name, params in METHODS.items():
        method = getattr(client_class, name, None)
        if not callable(method):
            return f"paho's Client has no {name}()"
        try:
            got = tuple(inspect.signature(method).parameters)
        except (TypeError, ValueError):
            return f"the parameters of paho's Client.{name}() cannot be read"
        if got != params:
            return f"paho's Client.{name}{got} is not {name}{params}"
    if not set(MESSAGE_SLOTS) <= set(getattr(mqtt.MQTTMessage, "__slots__", MESSAGE_SLOTS)):
        return "paho's MQTTMessage lacks a slot FastClient sets"
    try:
        client = client_class(mqtt.CallbackAPIVersion.VERSION2)
    except Exception as err:  # a client that cannot even be built without arguments is not paho 2.2's
        return f"paho's Client() fails: {type(err).__name__}: {err}"
    missing = [name for name in STATE if not hasattr(client, name)]
    return f"paho's Client has no {', '.join(missing)}" if missing else None


def reader_factory(reader: str = "auto", client_class: type = mqtt.Client) -> ClientFactory:
    """The factory for ``INGEST_MQTT_READER`` (``auto``, ``fast``, ``stock``) over paho's ``client_class``.

    ``fast`` over a paho :func:`fast_reader_problem` finds a problem with raises ``ValueError``.
    """
    if reader not in READERS:
        raise ValueError(f"the MQTT reader is one of {', '.join(READERS)}, not {reader!r}")
    if reader == "stock":
        return stock_client
    problem = fast_reader_problem(client_class)
    if problem is None:
        return fast_client
    if reader == "fast":
        raise ValueError(f"the fast MQTT reader cannot run: {problem}")
    log.warning("the fast MQTT reader cannot run (%s): using paho's own reader, which is slower", problem)
    return stock_client
