"""submit and status start fast: they never import pandas, numpy or matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shared.devserver import ROOT

HEAVY = ("pandas", "numpy", "matplotlib")
PROBE = """
import json, sys
from functions_framework import create_app
create_app(target=sys.argv[1], source=sys.argv[2], signature_type="http")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


@pytest.mark.parametrize("name", ["submit", "status"])
def test_light_functions_import_nothing_heavy(name: str) -> None:
    source = ROOT / "functions" / name / "main.py"
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), name, str(source)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_graph_and_render_import_nothing_heavy_until_they_draw() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE.format(heavy=set(HEAVY)),
            "graph",
            str(ROOT / "functions/render/main.py"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []
