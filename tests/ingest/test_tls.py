"""``mqtts://``: the service verifies the broker's certificate (MQTT_CA_FILE), consumes over TLS, and its
own counters go out through the shared telemetry publisher (``mathnotes.common.telemetry``) over TLS too."""

from __future__ import annotations

import ssl
import subprocess
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.support.servers import Mosquitto, wait_until

from .helpers import OwnBroker, StartIngest


def make_certs(d: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    ca_key, ca, key, csr, cert = (d / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=mathnotes test CA",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    ext = d / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    for path in (key, cert, ca):
        path.chmod(0o644)
    return ca, cert, key


@pytest.fixture
def tls_broker(own_broker: OwnBroker, tmp_path: Path) -> tuple[Mosquitto, Path]:
    """A Mosquitto serving TLS only, with a certificate from a private CA; and that CA's certificate."""
    ca, cert, key = make_certs(tmp_path)
    return own_broker(extra_conf=f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"), ca


def test_mqtts_with_a_private_ca(start_ingest: StartIngest, tls_broker: tuple[Mosquitto, Path]) -> None:
    broker, ca = tls_broker
    url = f"mqtts://127.0.0.1:{broker.port}"
    ing = start_ingest({"MQTT_URL": url, "MQTT_CA_FILE": str(ca), "INGEST_STATS_INTERVAL_S": "1"}, broker=broker)
    assert "mqtts://127.0.0.1" in ing.proc.log_text()
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tls-{uuid.uuid4().hex[:6]}")
    device.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
    device.connect(broker.host, broker.port)
    device.loop_start()
    device.publish(f"telemetry/{ing.db}/dev/temp", "21.5", qos=1).wait_for_publish(10)
    device.loop_stop()
    device.disconnect()
    assert ing.wait_count("temp", 1) == 1
    # the publisher's own connection verified the broker with the same CA: the counters came back through it
    assert ing.wait_count("pipeline", 1, where="\"device\" = 'ingest'") >= 1


def test_mqtts_refuses_a_broker_it_cannot_verify(start_ingest: StartIngest, tls_broker: tuple[Mosquitto, Path]) -> None:
    broker, _ca = tls_broker
    # no MQTT_CA_FILE: the system CAs do not know this broker's CA
    ing = start_ingest({"MQTT_URL": f"mqtts://127.0.0.1:{broker.port}"}, broker=broker, wait_connected=False)
    assert wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in ing.proc.log_text(), 20)
    assert "connected to" not in ing.proc.log_text()
