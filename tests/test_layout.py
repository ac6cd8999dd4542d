"""The package layout is the architecture: every import goes to the module's own layer or one above
it in docs/layout.md's order, and no two modules import each other, even through local imports."""
from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# Lowest first: a module may import from its own layer and the layers listed before it.
LAYERS = [("errors", "seeds"), ("distributions",), ("inference",), ("models",), ("data", "runs"), ("evaluation",),
          ("lightning",), ("paper",), ("app",), ("search",), ("api",)]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
PACKAGE_SETUP = {"autovae", "autovae._moved"}  # the package's own __init__ and its alias hook sit outside the layers


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def autovae_imports(path: Path) -> set[str]:
    """Every autovae module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("autovae.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "autovae":
            for alias in node.names:  # `from autovae.x import y` imports autovae.x.y where y is a module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if (SRC / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (SRC / sub.replace(".", "/")).is_dir() else node.module)
    return found - {"autovae"}


MODULES = {module_name(p): p for p in sorted((SRC / "autovae").rglob("*.py"))}
GRAPH = {m: {i for i in autovae_imports(p) if i in MODULES} for m, p in MODULES.items()}


def layer(module: str) -> int:
    return RANK[module.split(".")[1]]


def test_every_module_belongs_to_a_layer_of_the_documented_order():
    unplaced = [m for m in MODULES if m not in PACKAGE_SETUP and m.split(".")[1] not in RANK]
    assert not unplaced, f"modules in no layer of docs/layout.md: {unplaced}"


def test_no_module_imports_from_a_higher_layer():
    upward = sorted(f"{m} -> {i}" for m, deps in GRAPH.items() if m not in PACKAGE_SETUP
                    for i in deps if i not in PACKAGE_SETUP and layer(i) > layer(m))
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_circle():
    state: dict[str, int] = {}
    circles = []

    def visit(m, trail):
        state[m] = 1
        for d in sorted(GRAPH[m]):
            if state.get(d) == 1:
                circles.append(" -> ".join([*trail[trail.index(d):], d]))
            elif d not in state:
                visit(d, [*trail, d])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("old, new, name", [("autovae.divergences", "autovae.inference.objectives", "KL"),
                                            ("autovae.models.module", "autovae.lightning.module", "AutoVAEModule"),
                                            ("autovae.callbacks.fidelity", "autovae.lightning.callbacks.fidelity",
                                             "fidelity_metrics"),
                                            ("autovae.results", "autovae.runs.atomic", "write_json_atomic"),
                                            ("autovae.results", "autovae.runs.record", "read_metrics")])
def test_an_old_import_path_gives_todays_object_and_says_where_it_moved(old, new, name):
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        moved = importlib.import_module(old)
    assert getattr(moved, name) is getattr(importlib.import_module(new), name)
    assert importlib.import_module(new).__spec__.name == new  # the real module keeps its own name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.import_module(new)
