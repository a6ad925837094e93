"""The layers of docs/architecture.md point one way (a test, so they stay that way).

Every ``bayes_il2`` import in the package (module level or inside a function) is read with the
ast module; each contract names the modules a layer must never import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayes_il2"
TOP = ("cli", "commands", "pipeline")
PRESENTATION = ("plots", "report")
COMPUTING = ("evidence", "effects", "priors", "exact", "modeling", "inference", "fit", "api", "diagnostics",
             "reanalysis", "limits", "errors", "_io")

#: layer (module prefix) -> what it must never import (module prefixes)
CONTRACTS = {
    "errors": ("*",),
    "runner": TOP + PRESENTATION + ("evidence", "effects", "priors", "exact", "modeling", "diagnostics",
                                    "reanalysis", "simulation", "api"),
    "limits": ("*",),
    "_io": TOP + PRESENTATION + ("modeling", "pipeline"),
    "freshness": TOP + PRESENTATION + ("evidence", "effects", "exact", "modeling", "diagnostics", "reanalysis",
                                       "api", "simulation", "inference", "fit"),
    "evidence": TOP + PRESENTATION + ("effects", "modeling", "exact", "diagnostics", "reanalysis", "api",
                                      "simulation"),
    "effects": TOP + PRESENTATION + ("modeling", "exact", "diagnostics", "reanalysis", "api", "simulation"),
    "priors": TOP + PRESENTATION + ("modeling", "diagnostics", "reanalysis", "api", "simulation"),
    "exact": TOP + PRESENTATION + ("modeling", "diagnostics", "reanalysis", "api", "simulation"),
    "modeling": TOP + PRESENTATION + ("diagnostics", "reanalysis", "simulation"),
    "diagnostics": TOP + PRESENTATION + ("simulation",),
    "reanalysis": TOP + PRESENTATION + ("simulation",),
    "plots": TOP + ("report",),
    "report": TOP,
    "pipeline": ("cli", "commands"),
    "commands": ("cli",),
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bayes_il2"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bayes_il2"))
    return found


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0]


def _module_layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_it(path):
    layer = _layer(path)
    forbidden = CONTRACTS.get(layer)
    if not forbidden:
        return
    bad = []
    for module in _imports(path):
        target = _module_layer(module)
        if target is None or target == layer:
            continue
        if forbidden == ("*",) or target in forbidden:
            bad.append(module)
    assert not bad, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(set(bad))}"


def test_the_registry_loader_and_validator_do_not_import_each_other():
    assert not any(m.startswith("bayes_il2.evidence.load") for m in _imports(PACKAGE / "evidence" / "validate.py"))


def test_no_module_shadows_a_package_under_a_near_identical_name():
    """A module beside a package whose name starts with the other's (``reporting.py`` beside
    ``report/``) leaves readers guessing which one holds the code."""
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    clashes = sorted((m, p) for m in modules for p in packages
                     if m.lstrip("_").startswith(p) or p.startswith(m.lstrip("_")))
    assert clashes == []


def _imported_names(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) for every ``bayes_il2`` import in *path*, function bodies included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.startswith("bayes_il2"):
            found.extend((node.lineno, node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, None) for a in node.names if a.name.startswith("bayes_il2"))
    return found


def _resolves(module: str, name: str | None) -> bool:
    import importlib
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None:
        return False
    if name is None or name == "*":
        return True
    if spec.submodule_search_locations is not None and importlib.util.find_spec(f"{module}.{name}"):
        return True
    return hasattr(importlib.import_module(module), name)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_inside_the_package_resolves(path):
    """Imports deferred into function bodies only fail when the function runs: a removed module
    (``bayes_il2.reporting``) broke ``fit`` and ``run`` while every module still imported cleanly."""
    broken = [f"line {line}: from {module} import {name}" if name else f"line {line}: import {module}"
              for line, module, name in _imported_names(path) if not _resolves(module, name)]
    assert broken == [], f"{path.relative_to(PACKAGE)}: {broken}"
