"""submit and status start fast: they never import pandas, numpy or matplotlib, nor OpenTelemetry unasked.

Nor do they load Tumorscope's own drawing and statistics code; and render and graph never load
requests, which their image does not install.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devtools.devserver import ROOT
from tests.helpers import with_opentelemetry

HEAVY = ("pandas", "numpy", "matplotlib", "opentelemetry", "google.protobuf")
#: Tumorscope's picture, plotting and statistics code: graph's and render's, never submit's or status's.
DRAWING = ("shared.picture", "shared.plotting", "shared.dataset.analysis", "shared.renderer")
#: What only submit sends events with (shared/web/sink.py); not installed in render's image.
HTTP_CLIENT = ("requests", "urllib3")
#: What shared/observability/telemetry.py imports when it starts (redis-py imports opentelemetry's metrics API
#: by itself wherever opentelemetry is installed: that is why the default images have none).
OURS = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp", "opentelemetry.instrumentation.flask")
PROBE = """
import json, sys
from functions_framework import create_app
create_app(target=sys.argv[1], source=sys.argv[2], signature_type="http")
print(json.dumps(sorted(m for m in sys.modules if m.startswith({heavy}))))
"""


def modules_loaded_at_start(
    target: str, folder: str, environ: dict[str, str] | None = None, watched: tuple[str, ...] = HEAVY
) -> list[str]:
    """The ``watched`` modules (by default the heavy ones) a function's process has imported once
    functions-framework loaded it."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE.format(heavy=watched),
            target,
            str(ROOT / "functions" / folder / "main.py"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "LOG_FORMAT": "json", **(environ or {})},
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(("target", "folder"), [("submit", "submit"), ("status", "status")])
def test_light_functions_import_nothing_heavy(target: str, folder: str) -> None:
    assert modules_loaded_at_start(target, folder) == []


@pytest.mark.parametrize(("target", "folder"), [("submit", "submit"), ("status", "status")])
def test_light_functions_never_load_the_drawing_or_statistics_code(target: str, folder: str) -> None:
    assert modules_loaded_at_start(target, folder, watched=DRAWING) == []


@pytest.mark.parametrize("target", ["graph", "render"])
def test_graph_and_render_import_nothing_heavy_until_they_draw(target: str) -> None:
    assert modules_loaded_at_start(target, "render") == []


@pytest.mark.parametrize("target", ["graph", "render"])
def test_graph_and_render_need_no_http_client(target: str) -> None:
    assert modules_loaded_at_start(target, "render", watched=HTTP_CLIENT) == []
    requirements = (ROOT / "functions" / "render" / "requirements.txt").read_text().splitlines()
    # Only the Kaggle loader (make kaggle, the loader Job in the render image) imports requests.
    assert all("kaggle" in line for line in requirements if line.startswith("requests"))


EVERY_FUNCTION = [("submit", "submit"), ("status", "status"), ("graph", "render"), ("render", "render")]


@pytest.mark.parametrize(("target", "folder"), EVERY_FUNCTION)
def test_opentelemetry_is_started_only_when_otel_variables_ask_for_it(target: str, folder: str) -> None:
    """In an image built with TELEMETRY=1: no SDK tracing nor instrumentation without OTEL_*, both with."""
    unasked = modules_loaded_at_start(target, folder, with_opentelemetry({}))
    assert not [name for name in unasked if name.startswith(OURS)]
    asked = modules_loaded_at_start(
        target, folder, with_opentelemetry({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    )
    assert set(OURS) <= set(asked)
    assert not any(name.split(".")[0] in {"pandas", "numpy", "matplotlib"} for name in asked)
