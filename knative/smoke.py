"""The original README's curl journey, step by step: submit, status, result, histogram, scatter.

Run against a cluster by ``make smoke`` (each function at its own URL) and against the compose
gateway by its test (every URL the gateway's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

SAMPLE = {"radius_mean": 14.5, "texture_mean": 20.0, "perimeter_mean": 95.0}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class SmokeError(AssertionError):
    """A step of the journey did not answer as the README says it does."""


@dataclass(frozen=True)
class Urls:
    submit: str
    status: str
    graph: str


def _expect(response: requests.Response, status: int, what: str) -> requests.Response:
    if response.status_code != status:
        raise SmokeError(f"{what}: HTTP {response.status_code}, expected {status}: {response.text[:300]}")
    return response


def _expect_png(response: requests.Response, what: str) -> int:
    _expect(response, 200, what)
    if not response.content.startswith(PNG_SIGNATURE):
        raise SmokeError(f"{what}: not a PNG ({response.headers.get('Content-Type')})")
    return len(response.content)


def journey(
    urls: Urls,
    timeout_seconds: float = 120,
    report: Callable[[str], None] = print,
    session: requests.Session | None = None,
) -> str:
    """Run the five curl lines; return the job id. Raises SmokeError at the first wrong answer."""
    http = session or requests.Session()
    submitted = _expect(http.post(f"{urls.submit}/submit", json=SAMPLE, timeout=60), 202, "POST /submit")
    job_id = submitted.json()["job_id"]
    report(f"POST /submit -> 202, job {job_id}")

    deadline = time.monotonic() + timeout_seconds
    while True:  # with a Broker the job is drawn after submit answers; poll as a client would
        status = _expect(http.get(f"{urls.status}/status/{job_id}", timeout=30), 200, "GET /status")
        state = status.json()["status"]
        if state == "complete":
            break
        if state == "failed":
            raise SmokeError(f"job {job_id} failed: {status.json().get('error')}")
        if time.monotonic() > deadline:
            raise SmokeError(f"job {job_id} still {state} after {timeout_seconds:.0f} s")
        time.sleep(1)
    report(f"GET /status/{job_id} -> complete")

    for base, path in [
        (urls.status, f"/result/{job_id}"),
        (urls.graph, "/graph/histogram?feature=radius_mean&bins=15"),
        (urls.graph, "/graph/scatter?x=radius_mean&y=texture_mean"),
    ]:
        size = _expect_png(http.get(f"{base}{path}", timeout=60), f"GET {path}")
        report(f"GET {path} -> PNG, {size} bytes")
    return job_id
