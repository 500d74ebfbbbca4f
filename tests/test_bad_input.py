"""The bad-input battery: every public route answers what a client got wrong with a JSON 4xx, and
changes nothing in Redis.

Each case is (service, method, path, headers, body) -> (status, error code). Raw control
characters cannot reach a function (gunicorn, and Knative's queue-proxy in front of it, refuse
such a request line themselves), so job ids with them are sent percent-encoded, as a client must;
an encoded newline ends functions-framework's own catch-all route, hence a JSON 404 for it.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import requests
from helpers import error_of

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}
HEX = "0123456789abcdef" * 2  # a well-formed job id that no job has


def case(service, method, path, status, code, body=None, headers=None, id=None):
    return pytest.param(service, method, path, headers, body, status, code, id=id)


def submit(body: bytes | str, status: int, code: str, id: str, headers: dict | None = None):
    raw = body.encode() if isinstance(body, str) else body
    return case("submit", "POST", "/submit", status, code, raw, JSON if headers is None else headers, id)


def status(path: str, code: str, id: str, expected: int = 400, method: str = "GET"):
    return case("status", method, path, expected, code, id=id)


def graph(query: str, code: str, id: str, path: str = "/graph/histogram", method: str = "GET"):
    expected = 405 if method != "GET" else 400
    return case("graph", method, f"{path}?{query}" if query else path, expected, code, id=id)


CASES = [
    # Malformed JSON and the wrong media type
    submit('{"radius_mean": 14.5', 400, "invalid_json", "unterminated-object"),
    submit("{", 400, "invalid_json", "lone-brace"),
    submit('{"radius_mean": 14.5} trailing', 400, "invalid_json", "trailing-garbage"),
    submit("", 400, "invalid_json", "empty-body"),
    submit("{'radius_mean': 14.5}", 400, "invalid_json", "single-quotes"),
    submit(b'{"radius_mean": 1, "\xff": 2}', 400, "invalid_json", "invalid-utf8"),
    submit("[" * 20000 + "]" * 20000, 400, "invalid_json", "nested-20000-deep"),
    submit(
        '{"radius_mean": 14.5}', 415, "unsupported_media_type", "text-plain", {"Content-Type": "text/plain"}
    ),
    submit('{"radius_mean": 14.5}', 415, "unsupported_media_type", "no-content-type", {}),
    submit(
        "radius_mean=14.5",
        415,
        "unsupported_media_type",
        "form-urlencoded",
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
    submit(
        "--x--",
        415,
        "unsupported_media_type",
        "multipart",
        {"Content-Type": "multipart/form-data; boundary=x"},
    ),
    submit('{"pad": "' + "a" * 70000 + '"}', 413, "body_too_large", "body-over-64KiB"),
    # JSON that is not an object of feature values
    submit("[14.5]", 400, "invalid_sample", "array"),
    submit('[{"radius_mean": 14.5}]', 400, "invalid_sample", "array-of-objects"),
    submit('"radius_mean"', 400, "invalid_sample", "string"),
    submit("14.5", 400, "invalid_sample", "number"),
    submit("true", 400, "invalid_sample", "boolean"),
    submit("null", 400, "invalid_sample", "null"),
    submit("{}", 400, "invalid_sample", "empty-object"),
    # Values that are not finite numbers from 0 to 1e6
    submit('{"radius_mean": {"value": 14.5}}', 400, "invalid_value", "nested-object-value"),
    submit('{"radius_mean": [14.5]}', 400, "invalid_value", "array-value"),
    submit('{"radius_mean": "14.5"}', 400, "invalid_value", "string-value"),
    submit('{"radius_mean": true}', 400, "invalid_value", "true-value"),
    submit('{"radius_mean": false}', 400, "invalid_value", "false-value"),
    submit('{"radius_mean": null}', 400, "invalid_value", "null-value"),
    submit('{"radius_mean": NaN}', 400, "invalid_json", "nan-literal"),
    submit('{"radius_mean": Infinity}', 400, "invalid_json", "infinity-literal"),
    submit('{"radius_mean": -Infinity}', 400, "invalid_json", "minus-infinity-literal"),
    submit('{"radius_mean": -1}', 400, "invalid_value", "negative"),
    submit('{"radius_mean": -5e-324}', 400, "invalid_value", "negative-subnormal"),
    submit('{"radius_mean": 1000001}', 400, "invalid_value", "just-over-1e6"),
    submit('{"radius_mean": 1e308}', 400, "invalid_value", "huge"),
    submit('{"radius_mean": 1e999}', 400, "invalid_value", "overflows-to-infinity"),
    submit('{"radius_mean": ' + "9" * 400 + "}", 400, "invalid_value", "400-digit-integer"),
    # Names that are not features
    submit('{"colour": 1}', 400, "unknown_feature", "unknown-feature"),
    submit('{"radius_man": 1}', 400, "unknown_feature", "misspelled-feature"),
    submit('{"Radius_Mean": 1}', 400, "unknown_feature", "wrong-case"),
    submit('{"radius": 1}', 400, "unknown_feature", "missing-statistic"),
    submit('{"": 1}', 400, "unknown_feature", "empty-key"),
    submit('{"radius_mean\\u0000": 1}', 400, "unknown_feature", "nul-in-key"),
    submit('{"' + "k" * 10000 + '": 1}', 400, "unknown_feature", "10000-char-key"),
    submit('{"радиус_mean": 1}', 400, "unknown_feature", "cyrillic-key"),
    submit('{"radius_mean\U0001f52c": 1}', 400, "unknown_feature", "emoji-key"),
    submit('{"radius_mean": 1, "radius_mean": 2}', 400, "duplicate_key", "duplicate-key"),
    submit(
        '{"concave points_mean": 1, "concave_points_mean": 1}', 400, "duplicate_feature", "both-spellings"
    ),
    submit(
        '{"radius_mean": 1}',
        400,
        "invalid_idempotency_key",
        "idempotency-key-256-chars",
        {**JSON, "Idempotency-Key": "k" * 256},
    ),
    # Wrong methods
    case("submit", "PUT", "/submit", 405, "method_not_allowed", id="put-submit"),
    case("submit", "PATCH", "/submit", 405, "method_not_allowed", id="patch-submit"),
    case("submit", "DELETE", "/", 405, "method_not_allowed", id="delete-root"),
    case("submit", "POST", "/health/liveness", 405, "method_not_allowed", id="post-probe"),
    # Job ids: anything but 32 lowercase hex characters
    status(f"/status/{HEX}0", "invalid_job_id", "33-chars"),
    status(f"/status/{HEX * 2}", "invalid_job_id", "64-chars"),
    status(f"/status/{HEX * 100}", "invalid_job_id", "3200-chars"),
    status(f"/status/{HEX[:31]}", "invalid_job_id", "31-chars"),
    status(f"/status/{HEX.upper()}", "invalid_job_id", "upper-case"),
    status(f"/status/{HEX[:15]}g{HEX[16:]}", "invalid_job_id", "not-hex"),
    status("/status/..%2F..%2Fetc%2Fpasswd", "invalid_job_id", "dot-dot-encoded-slashes"),
    status(f"/result/{HEX[:15]}..{HEX[17:]}", "invalid_job_id", "dot-dot-inside"),
    status(f"/status/{HEX[:16]}/{HEX[16:]}", "invalid_job_id", "slash"),
    status(f"/status/{HEX[:31]}*", "invalid_job_id", "star"),
    status("/status/*", "invalid_job_id", "star-alone"),
    status(f"/status/{HEX[:31]}%3F", "invalid_job_id", "question-mark"),
    status(f"/status/{HEX[:31]}%5B", "invalid_job_id", "bracket"),
    status(f"/status/{HEX[:16]}%20{HEX[16:31]}", "invalid_job_id", "space"),
    status(f"/status/{HEX[:31]}%00", "invalid_job_id", "nul"),
    # functions-framework's own route (``/<path:path>``) stops at a newline: a JSON 404 before ours
    status(f"/result/{HEX[:16]}%0A{HEX[16:31]}", "not_found", "newline", 404),
    status(f"/status/{HEX[:31]}%7F", "invalid_job_id", "delete-char"),
    status(f"/status/{HEX[:30]}%C3%A9", "invalid_job_id", "unicode"),
    status("/status/", "not_found", "no-id", 404),
    status(f"/status/{HEX}", "job_not_found", "unknown-job", 404),
    status(f"/result/{HEX}?format=gif", "invalid_parameter", "result-format-gif"),
    status(f"/result/{HEX}?format=json&format=png", "invalid_parameter", "result-format-repeated"),
    status(f"/status/{HEX}?verbose=1", "unknown_parameter", "status-unknown-parameter"),
    status(f"/status/{HEX}", "method_not_allowed", "delete-status", 405, "DELETE"),
    status(f"/result/{HEX}", "method_not_allowed", "post-result", 405, "POST"),
    # Graph parameters out of range, malformed, unknown or repeated
    graph("bins=0", "invalid_parameter", "bins-0"),
    graph("bins=201", "invalid_parameter", "bins-201"),
    graph("bins=-1", "invalid_parameter", "bins-negative"),
    graph("bins=99999999999999999999", "invalid_parameter", "bins-20-digits"),
    graph("bins=1e3", "invalid_parameter", "bins-exponent"),
    graph("bins=ten", "invalid_parameter", "bins-word"),
    graph("bins=", "invalid_parameter", "bins-empty"),
    graph("bins=10&bins=20", "invalid_parameter", "bins-repeated"),
    graph("feature=radius", "unknown_feature", "feature-unknown"),
    graph("feature=radius_maen", "unknown_feature", "feature-misspelled"),
    graph("feature=%D1%80%D0%B0%D0%B4%D0%B8%D1%83%D1%81", "unknown_feature", "feature-cyrillic"),
    graph("feature=" + "r" * 5000, "unknown_feature", "feature-5000-chars"),
    graph("feature=radius_mean&feature=area_mean", "invalid_parameter", "feature-repeated"),
    graph("colour=red", "unknown_parameter", "unknown-parameter"),
    graph("format=gif", "invalid_parameter", "format-gif"),
    graph("width=10", "invalid_parameter", "width-too-small"),
    graph("width=100000", "invalid_parameter", "width-too-big"),
    graph("height=99999", "invalid_parameter", "height-too-big"),
    graph("dpi=0", "invalid_parameter", "dpi-0"),
    graph("dpi=301", "invalid_parameter", "dpi-301"),
    graph("x=radius_mean", "missing_parameter", "scatter-without-y", "/graph/scatter"),
    graph("y=radius_mean", "missing_parameter", "scatter-without-x", "/graph/scatter"),
    graph(
        "x=radius_mean&y=texture_mean&x=area_mean",
        "invalid_parameter",
        "scatter-x-repeated",
        "/graph/scatter",
    ),
    graph("features=radius_mean", "invalid_parameter", "pairs-one-feature", "/graph/pairs"),
    graph("features=radius_mean,radius_mean", "invalid_parameter", "pairs-repeated-feature", "/graph/pairs"),
    graph(
        "features=" + ",".join(["radius_mean", "texture_mean"] * 3),
        "invalid_parameter",
        "pairs-six",
        "/graph/pairs",
    ),
    graph("features=radius_mean,colour", "unknown_feature", "correlation-unknown", "/graph/correlation"),
    graph("", "method_not_allowed", "post-histogram", method="POST"),
    graph("", "method_not_allowed", "delete-scatter", "/graph/scatter", method="DELETE"),
]


def redis_snapshot(client) -> dict[bytes, str]:
    """Every key with a digest of its value: equal snapshots mean nothing was written or deleted."""
    return {key: hashlib.sha256(client.dump(key) or b"").hexdigest() for key in client.scan_iter(count=1000)}


@pytest.mark.parametrize(("service", "method", "path", "headers", "body", "status", "code"), CASES)
def test_bad_input_gets_a_json_4xx_and_leaves_redis_unchanged(
    services, loaded_redis, service, method, path, headers, body, status, code
) -> None:
    client = loaded_redis.client()
    before = redis_snapshot(client)

    response = requests.request(method, services[service] + path, headers=headers, data=body, timeout=30)

    assert response.status_code == status, response.text[:300]
    error = error_of(response)
    assert error["code"] == code
    assert len(response.content) < 8192  # the answer never echoes a huge input back
    if status == 405:
        assert method not in response.headers["Allow"]
        assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]
    assert redis_snapshot(client) == before


def test_the_battery_is_at_least_sixty_cases_across_every_public_service() -> None:
    assert len(CASES) >= 60
    assert {param.values[0] for param in CASES} == {"submit", "status", "graph"}


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"radius_man": 1}, "suggestions", {"radius_man": "radius_mean"}),
        ({"Texture_Mean": 1}, "suggestions", {"Texture_Mean": "texture_mean"}),
        ({"concave_point_worst": 1}, "suggestions", {"concave_point_worst": "concave_points_worst"}),
    ],
)
def test_a_misspelled_feature_gets_a_suggestion(services, body: dict, field: str, expected: dict) -> None:
    response = requests.post(f"{services['submit']}/submit", json=body, timeout=10)
    assert response.status_code == 400
    assert error_of(response)[field] == expected


def test_a_misspelled_graph_feature_names_the_feature_meant(services) -> None:
    response = requests.get(f"{services['graph']}/graph/histogram?feature=radius_maen", timeout=10)
    assert "did you mean 'radius_mean'?" in error_of(response)["message"]


def test_a_positive_subnormal_is_a_valid_measurement_and_renders(services) -> None:
    """5e-324 is a number from 0 to 1e6, so it is accepted; drawing it must not break."""
    response = requests.post(
        f"{services['submit']}/submit", data='{"radius_mean": 5e-324}', headers=JSON, timeout=30
    )
    assert response.status_code == 202
    job = requests.get(response.json()["status_url"], timeout=10).json()
    assert job["status"] == "complete"  # make dev wiring: submit answers once render is done
    summary = requests.get(response.json()["result_url"], params={"format": "json"}, timeout=10).json()
    assert summary["features"]["radius_mean"]["percentile"] == {"benign": 0.0, "malignant": 0.0}
    assert json.loads(json.dumps(summary)) == summary
