"""Delivery of submit's events to K_SINK: one pooled session whose adapter retries what a retry can help.

Only submit imports this module: requests and urllib3 are in submit's image, not in render's.
"""

from __future__ import annotations

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from requests.adapters import HTTPAdapter
from urllib3 import Retry

#: Tries of one event in all: the first and two retries.
ATTEMPTS = 3
#: The wait before the first retry, doubled before each next one: 0.1 s, then 0.2 s.
BACKOFF_SECONDS = 0.1
#: The answers a retry can help (connection errors and timeouts are retried too); any other 4xx is final.
RETRY_STATUSES = frozenset({429, *range(500, 600)})


class SinkError(Exception):
    """The event sink did not accept the event."""


class SinkRetry(Retry):
    """urllib3's Retry, waiting before the first retry too (urllib3's own waits 0 s, then 2 x the factor)."""

    def get_backoff_time(self) -> float:
        return self.backoff_factor * 2 ** (len(self.history) - 1) if self.history else 0.0


def sink_session(attempts: int = ATTEMPTS) -> requests.Session:
    """A pooled session that POSTs up to ``attempts`` times on 5xx, 429, connection errors and timeouts.

    A ``Retry-After`` from the sink is not waited for (submit's own client is told to retry);
    after the last attempt the sink's last answer is returned, or its error raised.
    """
    retry = SinkRetry(
        total=attempts - 1,
        backoff_factor=BACKOFF_SECONDS,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"POST"}),
        respect_retry_after_header=False,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def send(event: CloudEvent, sink: str, timeout_seconds: float, session: requests.Session) -> None:
    """POST ``event`` to ``sink`` in binary mode over ``session`` (a :func:`sink_session`, which retries)."""
    if not sink:
        raise SinkError("K_SINK is not set")
    headers, body = to_binary(event)
    if "traceparent" in event:  # the transport's own trace header too, for a Broker that traces
        headers["traceparent"] = event["traceparent"]
    try:
        response = session.post(sink, headers=headers, data=body, timeout=timeout_seconds)
    except requests.RequestException as error:
        raise SinkError(f"{type(error).__name__}: {error}") from None
    if not response.ok:
        raise SinkError(f"HTTP {response.status_code}")
