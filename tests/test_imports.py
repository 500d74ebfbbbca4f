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


def modules_loaded_at_start(target: str, folder: str) -> list[str]:
    """The heavy modules a function's process has imported once functions-framework loaded it."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE.format(heavy=set(HEAVY)),
            target,
            str(ROOT / "functions" / folder / "main.py"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(("target", "folder"), [("submit", "submit"), ("status", "status")])
def test_light_functions_import_nothing_heavy(target: str, folder: str) -> None:
    assert modules_loaded_at_start(target, folder) == []


@pytest.mark.parametrize("target", ["graph", "render"])
def test_graph_and_render_import_nothing_heavy_until_they_draw(target: str) -> None:
    assert modules_loaded_at_start(target, "render") == []
