"""POST /api/ingest through the real service: JSON envelopes, line protocol, auth, limits, errors."""

from __future__ import annotations

import time

import requests

from .conftest import StartIngest


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
    time.sleep(0.3)
    assert ing.count("http_m") == 5
