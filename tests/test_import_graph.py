"""shared/'s modules import one another only downwards: no import cycle, and no private name taken
from another module (read from the sources, imports inside functions included)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SHARED.rglob("*.py"))}


def is_module(name: str) -> bool:
    return name in MODULES and MODULES[name].name != "__init__.py"


def imports(name: str) -> list[tuple[str, list[str]]]:
    """Each shared module ``name`` imports, with the names it takes from it (and the names it reads
    off an imported module, ``module._name``)."""
    tree = ast.parse(MODULES[name].read_text())
    found: list[tuple[str, list[str]]] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    found.append((alias.name, []))
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shared"):
            names = []
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if is_module(submodule):  # from shared.picture import palette
                    found.append((submodule, []))
                    aliases[alias.asname or alias.name] = submodule
                else:
                    names.append(alias.name)
            if names:
                found.append((node.module, names))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            found.append((aliases[node.value.id], [node.attr]))
    return [(module, names) for module, names in found if is_module(module) and module != name]


GRAPH = {name: {module for module, _ in imports(name)} for name in MODULES if is_module(name)}


def reachable(start: str, stop: set[str] = frozenset()) -> set[str]:
    """Every shared module ``start`` imports, directly or not (not looking past ``stop``)."""
    seen, todo = set(), [start]
    while todo:
        for module in GRAPH[todo.pop()]:
            if module not in seen and module not in stop:
                seen.add(module)
                todo.append(module)
    return seen


def test_the_graph_is_read_from_every_module() -> None:
    assert "shared.picture.layout" in GRAPH["shared.picture.backgrounds"]
    assert "shared.dataset.analysis" in GRAPH["shared.renderer"]  # an import inside a function
    assert importlib.util.find_spec("shared.picture.job") is not None


def test_no_module_imports_itself_through_others() -> None:
    cycles = sorted(name for name in GRAPH if name in reachable(name))
    assert cycles == [], "modules in an import cycle: " + ", ".join(cycles)


def test_no_module_takes_another_modules_private_names() -> None:
    taken = [
        f"{name} takes {module}.{private}"
        for name in GRAPH
        for module, names in imports(name)
        for private in names
        if private.startswith("_") and not private.startswith("__")
    ]
    assert taken == []


@pytest.mark.parametrize(
    ("entry", "digest"),
    [
        ([module_name(p) for p in (SHARED / "picture").glob("*.py")], "PICTURE_CODE"),
        (["shared.plotting.graphs", "shared.plotting.plots"], "GRAPH_CODE"),
    ],
)
def test_each_drawing_code_digest_covers_exactly_the_code_its_pictures_are_drawn_by(
    entry: list[str], digest: str
) -> None:
    """The job pictures' digest covers shared/picture/ and what it draws with; graph's, its plotting
    code and what that draws with. Neither covers the other's files. Where data comes from (the
    column store, the job store and its caches) and errors decide no pixel."""
    from shared.store import plot_cache

    not_drawing = {"shared.dataset.columns", "shared.errors", "shared.store.plot_cache"}
    modules = set(entry)  # shared/picture/__init__.py too: every file of the package
    for start in entry:
        modules |= reachable(start, stop=not_drawing) if is_module(start) else set()
    covered = {module_name(p) for p in getattr(plot_cache, digest) if p.suffix == ".py"}
    assert covered == modules - not_drawing
