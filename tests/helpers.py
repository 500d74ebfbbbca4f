"""Assertions the tests share."""

from __future__ import annotations

import json


def error_of(response) -> dict:
    """The ``error`` object of a JSON error response (fails the test if the body is not one)."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return body["error"]
