"""The package's layers: every perovcalc module imports only from its own layer or below, and no
two modules import each other, directly or around a circle (docs/architecture.md).

Imports are read with ``ast`` from the source, function-level ones included.
"""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "perovcalc"

#: Layer of each module, lowest first; a name ending in "." covers a package and its modules.
LAYERS = {
    "base": (
        "perovcalc",
        "perovcalc.errors",
        "perovcalc.presets",
        "perovcalc.reference",
        "perovcalc.calculate",
        "perovcalc.parallel",
        "perovcalc.symmetry",
        "perovcalc.files",
        "perovcalc.guards",
    ),
    "builders": (
        "perovcalc.bulk",
        "perovcalc.alloy",
        "perovcalc.slab",
        "perovcalc.vacancy",
        "perovcalc.nanocrystal",
    ),
    "science": (
        "perovcalc.mep",
        "perovcalc.neb",
        "perovcalc.path",
        "perovcalc.surrogate",
        "perovcalc.gaussian_process",
        "perovcalc.formation",
        "perovcalc.band_alignment",
        "perovcalc.spinorbit",
        "perovcalc.segregation",
        "perovcalc.equilibrium",
        "perovcalc.corelevel",
        "perovcalc.corehole",
        "perovcalc.xps",
        "perovcalc.photoemission",
        "perovcalc.imfp",
        "perovcalc.lineshape",
        "perovcalc.xrd",
        "perovcalc.scattering",
        "perovcalc.debye",
        "perovcalc.xrd_compare",
    ),
    "kinds": ("perovcalc.tasks", "perovcalc.kinds."),
    "engine": (
        "perovcalc.campaign",
        "perovcalc.runner",
        "perovcalc.worker",
        "perovcalc.store",
        "perovcalc.hpc",
        "perovcalc.results",
        "perovcalc.doctor",
    ),
    "top": ("perovcalc.report", "perovcalc.report.", "perovcalc.cli."),
}
ORDER = list(LAYERS)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    for layer, names in LAYERS.items():
        for name in names:
            if module == name or (name.endswith(".") and module.startswith(name)):
                return layer
            if name.endswith(".") and module == name[:-1]:
                return layer
    raise AssertionError(f"{module} has no layer: add it to LAYERS in {__file__}")


def imported_modules(module: str) -> set[str]:
    """The perovcalc modules ``module`` imports anywhere in its source."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # ``from perovcalc import xps`` imports the module perovcalc.xps
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # perovcalc.x.y -> the module perovcalc.x
                name = name.rpartition(".")[0]
            if name.startswith("perovcalc") and name != module:
                found.add(name)
    return found


GRAPH = {module: imported_modules(module) for module in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down(module):
    """No module imports one of a higher layer (the package root aside: importing a subpackage
    imports its parent)."""
    own = ORDER.index(layer_of(module))
    upward = sorted(
        f"{target} ({layer_of(target)})"
        for target in GRAPH[module]
        if ORDER.index(layer_of(target)) > own
    )
    assert not upward, f"{module} ({layer_of(module)}) imports a higher layer: {upward}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports in ``graph`` (module -> imported modules), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    # a package's __init__ importing its own modules is not a circle: they import the package
    # by name, not its contents
    graph = {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in GRAPH.items()
    }
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_checks_can_fail():
    """The checks above catch an upward import and a circle."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert ORDER.index(layer_of("perovcalc.neb")) > ORDER.index(layer_of("perovcalc.vacancy"))
    assert layer_of("perovcalc.kinds.migration") == "kinds"
    with pytest.raises(AssertionError, match="no layer"):
        layer_of("perovcalc.unknown")
