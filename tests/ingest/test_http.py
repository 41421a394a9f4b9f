"""POST /api/ingest through the real service: JSON envelopes, line protocol, auth, limits, errors."""

from __future__ import annotations

import requests

from .helpers import OwnBroker, StartIngest, metric


def test_http_ingest_json_line_protocol_and_errors(start_ingest: StartIngest) -> None:
    ing = start_ingest({"INGEST_API_KEYS": "k-one,k-two", "INGEST_MAX_BODY_BYTES": "2048"})
    url, auth = f"{ing.url}/api/ingest", {"Authorization": "Bearer k-two"}
    one = {"measurement": "http_m", "ts": 1_700_000_000, "fields": {"v": 1}, "tags": {"device": "n8n"}}
    ok = requests.post(url, json=one, headers=auth, timeout=30)
    assert ok.status_code == 202 and ok.json() == {"accepted": 1, "outcome": "written"}
    many = [dict(one, ts=1_700_000_001 + i) for i in range(3)]
    assert requests.post(url, json=many, headers=auth, timeout=30).json()["accepted"] == 3
    lp = requests.post(url, data="http_m,device=lp v=2 1700000009000000000\n", headers=auth, timeout=30)
    assert lp.status_code == 202
    assert ing.count("http_m") == 5

    bad = requests.post(url, json=[one, {"fields": {"v": 1}}, dict(one, fields={"v": None})], headers=auth, timeout=30)
    assert bad.status_code == 400
    err = bad.json()["error"]
    assert err["code"] == "rejected" and [d["index"] for d in err["details"]] == [1, 2]
    assert (
        requests.post(url, data="nope nope nope nope", headers=auth, timeout=30)
        .json()["error"]["message"]
        .startswith("line 1:")
    )
    assert (
        requests.post(url, data="{", headers={**auth, "Content-Type": "application/json"}, timeout=30).json()["error"][
            "code"
        ]
        == "invalid_json"
    )
    assert requests.post(url, json=one, timeout=30).status_code == 401
    assert requests.post(url, json=one, headers={"Authorization": "Bearer nope"}, timeout=30).status_code == 401
    big = requests.post(url, data="x" * 5000, headers=auth, timeout=30)
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    assert (
        requests.post(url, data=b"<a/>", headers={**auth, "Content-Type": "application/xml"}, timeout=30).status_code
        == 415
    )
    assert requests.get(url, timeout=30).status_code == 405
    # a 202 comes once the points are written, in the order accepted: had any refused request queued a
    # point, it would be in InfluxDB by now, before this one
    last = requests.post(url, data="http_m,device=last v=3 1700000010000000000\n", headers=auth, timeout=30)
    assert last.status_code == 202
    assert ing.count("http_m") == 6


def test_rejected_items_are_counted_each_under_its_own_reason(start_ingest: StartIngest) -> None:
    ing = start_ingest()
    url = f"{ing.url}/api/ingest"
    good = {"measurement": "mixed", "ts": 1_700_000_000, "fields": {"v": 1}}
    items = [
        dict(good, ts="noon"),  # invalid_timestamp
        good,
        {"fields": {"v": 1}},  # schema: no measurement
        dict(good, fields={"v": 2**60}),  # invalid_value: too large for a float
        dict(good, ts="later"),  # invalid_timestamp
    ]
    resp = requests.post(url, json=items, timeout=30)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "rejected" and error["message"] == "4 of 5 items were rejected; nothing was written"
    assert [(d["index"], d["reason"]) for d in error["details"]] == [
        (0, "invalid_timestamp"),
        (2, "schema"),
        (3, "invalid_value"),
        (4, "invalid_timestamp"),
    ]
    line = requests.post(url, data="mixed v=1 1700000000000000000\nnot line protocol\n", timeout=30)
    assert line.status_code == 400 and line.json()["error"]["code"] == "invalid_line_protocol"
    counted = {
        reason: metric(ing.url, f'ingest_rejected_total{{reason="{reason}"}}')
        for reason in ("invalid_timestamp", "schema", "invalid_value", "invalid_line_protocol")
    }
    assert counted == {"invalid_timestamp": 2, "schema": 1, "invalid_value": 1, "invalid_line_protocol": 1}
    assert ing.count("mixed") == 0


def test_points_influxdb_refuses_are_named_in_the_answer_even_with_the_broker_down(
    start_ingest: StartIngest, own_broker: OwnBroker
) -> None:
    broker = own_broker()
    ing = start_ingest(broker=broker)
    broker.stop()  # the dead letters cannot go out: the answer is the only report
    url = f"{ing.url}/api/ingest"
    assert requests.post(url, json={"measurement": "state", "fields": {"mode": "auto"}}, timeout=30).status_code == 202
    items = [
        {"measurement": "state", "ts": 1_700_000_000 + i, "fields": {"mode": 1.0 if i in (2, 7) else "x"}}
        for i in range(10)
    ]
    resp = requests.post(url, json=items, timeout=30)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "influx_rejected"
    assert error["message"] == "InfluxDB refused 2 of 10 points; the other 8 were written"
    assert [(d["index"], d["reason"]) for d in error["details"]] == [(2, "influx_rejected"), (7, "influx_rejected")]
    assert all("field type conflict" in d["detail"] for d in error["details"])
    assert ing.count("state") == 1 + 8

    lines = '# header\nstate mode="y" 1700000100000000000\nstate mode=3.0 1700000101000000000\n'
    resp = requests.post(url, data=lines, timeout=30)
    assert resp.status_code == 422 and [d["index"] for d in resp.json()["error"]["details"]] == [3]  # line 3
    assert ing.count("state") == 1 + 8 + 1
    assert 'ingest_rejected_total{reason="influx_rejected"} 3.0' in requests.get(f"{ing.url}/metrics", timeout=5).text
