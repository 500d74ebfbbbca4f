"""With OTEL_* set, spans and metrics reach an OTLP endpoint; a job's spans form one trace."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from tests.conftest import FunctionProcesses, RedisServer
from tests.helpers import OTEL_SITE, LocalServer, json_lines, with_opentelemetry
from tests.reliability import wait_for

sys.path.append(str(OTEL_SITE))  # the test's receiver decodes with opentelemetry-proto from there
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"


class OtlpReceiver(LocalServer):
    """A real HTTP server taking OTLP/HTTP protobuf exports, decoded with OpenTelemetry's own messages."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.metrics: list[dict] = []
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                assert self.headers["Content-Type"] == "application/x-protobuf"
                receiver.bodies.append(body)
                if self.path == "/v1/traces":
                    receiver._add_spans(ExportTraceServiceRequest.FromString(body))
                    answer = ExportTraceServiceResponse()
                elif self.path == "/v1/metrics":
                    receiver._add_metrics(ExportMetricsServiceRequest.FromString(body))
                    answer = ExportMetricsServiceResponse()
                else:
                    self.send_error(404)
                    return
                payload = answer.SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args) -> None:
                pass

        super().__init__(Handler)

    @staticmethod
    def _service(resource) -> str:
        return next(a.value.string_value for a in resource.attributes if a.key == "service.name")

    def _add_spans(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            service = self._service(resource_spans.resource)
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        {
                            "service": service,
                            "name": span.name,
                            "kind": span.kind,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_id": span.parent_span_id.hex(),
                            "scope": scope.scope.name,
                        }
                    )

    def _add_metrics(self, request: ExportMetricsServiceRequest) -> None:
        for resource_metrics in request.resource_metrics:
            service = self._service(resource_metrics.resource)
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        labels = {a.key: a.value.string_value for a in point.attributes}
                        value = point.count if kind == "histogram" else point.as_int
                        self.metrics.append(
                            {"service": service, "name": metric.name, "labels": labels, "value": value}
                        )


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def test_a_job_is_one_trace_and_its_metrics_are_exported(
    loaded_redis: RedisServer, function_processes: FunctionProcesses, otlp: OtlpReceiver
) -> None:
    environ = with_opentelemetry(
        {
            "REDIS_URL": loaded_redis.url,
            "LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "300",
            "THREADS": "2",
        }
    )
    render = function_processes.start("render", environ)
    graph = function_processes.start("graph", environ)
    submit = function_processes.start("submit", {**environ, "K_SINK": render})
    answer = requests.post(
        f"{submit}/submit",
        json={"radius_mean": 14.5171},
        headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    for _ in range(2):  # a miss, then a hit
        assert (
            requests.get(f"{graph}/graph/box?feature=texture_se&kind=violin", timeout=60).status_code == 200
        )

    def job_trace() -> list[dict]:
        spans = [span for span in otlp.spans if span["trace_id"] == TRACE_ID]
        services = {span["service"] for span in spans}
        return (
            spans
            if {"submit", "render"} <= services and any(s["name"].startswith("render ") for s in spans)
            else []
        )

    spans = wait_for(job_trace, 30, "the job's spans")
    [server] = [s for s in spans if s["service"] == "submit" and s["scope"].endswith("flask")]
    assert server["parent_id"] == CLIENT_SPAN  # Flask's span continues the client's traceparent
    assert any(
        s["service"] == "submit" and s["scope"].endswith("requests") for s in spans
    )  # the event's POST
    assert any(s["service"] == "submit" and s["scope"].endswith("redis") for s in spans)
    [consumer] = [s for s in spans if s["name"] == "render tumorscope.job.submitted"]
    assert consumer["parent_id"] == server["span_id"]  # from the event's traceparent, past any Broker
    assert any(
        s["service"] == "render" and s["scope"].endswith("redis") and s["trace_id"] == TRACE_ID for s in spans
    )

    assert not any(b"14.5171" in body for body in otlp.bodies)  # Redis commands are exported as "HSET ? ?"

    # The lines name the exported spans, so a log store and a tracing backend meet on span_id.
    submit_lines = json_lines(function_processes.log_dir / f"submit-{submit.rsplit(':', 1)[1]}.log")
    [accepted] = [line for line in submit_lines if line.get("status_code") == 202]
    assert (accepted["trace_id"], accepted["span_id"]) == (TRACE_ID, server["span_id"])

    def metric(service: str, name: str, **labels: str) -> int:
        points = [
            m for m in otlp.metrics if m["service"] == service and m["name"] == name and m["labels"] == labels
        ]
        return points[-1]["value"] if points else 0

    wait_for(lambda: metric("render", "tumorscope.jobs", outcome="rendered") >= 1, 30, "the jobs counter")
    wait_for(
        lambda: metric("render", "tumorscope.render.duration", outcome="rendered") >= 1, 30, "render duration"
    )
    wait_for(
        lambda: metric("graph", "tumorscope.plot_cache.requests", result="miss") >= 1, 30, "a cache miss"
    )
    wait_for(lambda: metric("graph", "tumorscope.plot_cache.requests", result="hit") >= 1, 30, "a cache hit")
