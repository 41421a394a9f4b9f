"""Property tests: whatever a device sends, encoding is valid line protocol that reads back identically."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mathnotes.ingest.errors import Rejected
from mathnotes.ingest.lineproto import LineProtocolError, Point, encode, parse_lines, validate
from mathnotes.ingest.parse import ParseOptions, parse_message

keys = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda k: not k.endswith("\\") and k not in {"time", "_field", "_measurement"}
)
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
)
points = st.builds(
    Point,
    measurement=keys,
    fields=st.dictionaries(keys, values, min_size=1, max_size=5),
    tags=st.dictionaries(keys, keys, max_size=4),
    ts_ns=st.integers(0, 2**63 - 1),
)


@given(points)
def test_encode_then_parse_is_identity(point: Point) -> None:
    try:
        validate(point)
    except LineProtocolError:
        return
    line = encode(point)
    assert "\n" not in line.replace("\\n", "")
    back = parse_lines(line, 0)
    fields = {
        k: v.replace("\r", "\\r").replace("\n", "\\n") if isinstance(v, str) else v for k, v in point.fields.items()
    }
    assert back == [Point(point.measurement, fields, dict(sorted(point.tags.items())), point.ts_ns)]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.sampled_from(["telemetry/a/b/c", "telemetry/a/b/c/d", "telemetry/x", "t/+/#"]))
def test_any_payload_is_points_or_a_named_rejection(payload: bytes, topic: str) -> None:
    try:
        result = parse_message(topic, payload, 1, ParseOptions())
    except Rejected as err:
        assert err.code and err.message
        return
    for point in result:
        validate(point)
        assert parse_lines(encode(point), 0)


@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=10)),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=30,
    )
)
def test_any_json_document_is_points_or_a_named_rejection(doc: object) -> None:
    import json

    try:
        payload = json.dumps(doc).encode()
    except ValueError:
        return
    try:
        result = parse_message("telemetry/s/d/m", payload, 1, ParseOptions())
    except Rejected as err:
        assert err.code
        return
    assert all(parse_lines(encode(p), 0) for p in result)
