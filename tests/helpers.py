"""Assertions the tests share."""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from devtools.devserver import ROOT


class LocalServer:
    """A real HTTP server on a free loopback port, serving ``handler`` until closed."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *_exception) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def client_at(address: str) -> requests.Session:
    """A client whose connections leave from ``address`` (any of 127.0.0.0/8 is this machine)."""
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


def error_of(response) -> dict:
    """The ``error`` object of a JSON error response (fails the test if the body is not one)."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


#: Where ``make venv`` installs requirements-otel.txt: apart from .venv, which stands for the
#: images (redis-py imports opentelemetry whenever it is installed). Put it on a function's PYTHONPATH.
OTEL_SITE = Path(sys.prefix) / "otel"


def with_opentelemetry(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` for a function that can import OpenTelemetry, as in an image built with TELEMETRY=1."""
    assert (OTEL_SITE / "opentelemetry" / "sdk").is_dir(), f"{OTEL_SITE} is missing: run make venv"
    return {**environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(OTEL_SITE)])}


def json_lines(path: Path) -> list[dict]:
    """Every line of a log file, each of which must be a JSON object with severity, message, time."""
    lines = path.read_text().splitlines()
    assert lines, f"{path.name} is empty"
    parsed = []
    for text in lines:
        line = json.loads(text)  # fails the test on any line that is not JSON
        assert isinstance(line, dict), text
        assert line["severity"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, text
        assert isinstance(line["message"], str), text
        assert isinstance(line["service"], str), text
        assert isinstance(line["time"], str), text
        parsed.append(line)
    return parsed


#: The suite sends most of its requests from one address: a test about the limits sets its own.
UNLIMITED = {
    "SUBMIT_RATE_LIMIT": "1000000/minute",
    "DRAW_RATE_LIMIT": "1000000/minute",
    "CLIENT_STORE_SHARE": "1",
}
