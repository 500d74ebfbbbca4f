"""The CloudEvent submit emits when a job is queued, and its delivery to K_SINK."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shared.observability.tracing import TraceContext

if TYPE_CHECKING:  # requests is imported by send(): render and graph, which never send, skip its ~50 ms
    import requests

JOB_SUBMITTED = "tumorscope.job.submitted"
SOURCE = "/tumorscope/submit"

log = logging.getLogger("tumorscope")


class SinkError(Exception):
    """The event sink did not accept the event."""


def job_submitted(
    job_id: str,
    features: Mapping[str, float],
    extensions: Mapping[str, str],
    trace: TraceContext | None = None,
) -> CloudEvent:
    """The event for a new job: subject is the job id, data the submitted features.

    With ``trace`` (submit's span), it carries the CloudEvents distributed-tracing extension
    (``traceparent``, ``tracestate``), so that render continues the same trace past the Broker.
    """
    attributes = {
        **extensions,
        **(trace.attributes() if trace else {}),
        "type": JOB_SUBMITTED,
        "source": SOURCE,
        "subject": job_id,
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, {"job_id": job_id, "features": dict(features)})


def send(
    event: CloudEvent,
    sink: str,
    timeout_seconds: float,
    attempts: int = 3,
    session: requests.Session | None = None,
) -> None:
    """POST ``event`` to ``sink`` in binary mode; retry briefly on 5xx, 429 and network errors."""
    if not sink:
        raise SinkError("K_SINK is not set")
    headers, body = to_binary(event)
    if "traceparent" in event:  # the transport's own trace header too, for a Broker that traces
        headers["traceparent"] = event["traceparent"]
    import requests

    post = (session or requests).post
    for attempt in range(1, attempts + 1):
        try:
            response = post(sink, headers=headers, data=body, timeout=timeout_seconds)
        except requests.RequestException as error:
            problem = f"{type(error).__name__}: {error}"
        else:
            if response.ok:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # the sink refused this event; sending it again will not help
        log.warning("event %s to %s failed (attempt %d): %s", event["id"], sink, attempt, problem)
        if attempt < attempts:
            time.sleep(0.1 * 2 ** (attempt - 1))
    raise SinkError(problem)
