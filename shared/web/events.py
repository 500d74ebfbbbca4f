"""The CloudEvent submit emits when a job is queued (shared/web/sink.py delivers it to K_SINK)."""

from __future__ import annotations

from collections.abc import Mapping

from cloudevents.http import CloudEvent

from shared.observability.tracing import TraceContext

JOB_SUBMITTED = "tumorscope.job.submitted"
SOURCE = "/tumorscope/submit"


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
