"""Packages that re-export names load them on first use (``bayes_il2._lazy``, issue #19).

The figure process of ``fit`` imports the figure makers while the parent fits; with eager
re-exports it also imported scipy.stats (about 0.4 s) through ``bayes_il2.effects`` (the conversions),
``bayes_il2.classical`` (the tests) and ``bayes_il2.plots`` (which probed the reanalysis figures for
every unknown name, submodules included), and ``fit`` took 2.3 s instead of 1.95 s.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> dict[str, bool]:
    probe = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}\n" + (
        "import json; print(json.dumps({m: m in sys.modules for m in "
        "('scipy.stats', 'bayes_il2.reanalysis', 'bayes_il2.effects.conversions', 'matplotlib')}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_figure_makers_and_what_the_figure_process_unpickles_need_no_scipy_stats():
    loaded = _modules_after(
        "import bayes_il2.pipeline as p, importlib\n"
        "for name in p.FIGURE_MODULES: importlib.import_module(name)\n"
        "import bayes_il2.classical.result, bayes_il2.fit, bayes_il2.specs, bayes_il2.effects.measures")
    assert loaded == {"scipy.stats": False, "bayes_il2.reanalysis": False, "bayes_il2.effects.conversions": False,
                      "matplotlib": True}


def test_a_submodule_import_through_a_lazy_package_loads_only_that_submodule():
    loaded = _modules_after("from bayes_il2.plots import partial_rows\nfrom bayes_il2.effects import measures")
    assert not loaded["bayes_il2.reanalysis"] and not loaded["bayes_il2.effects.conversions"]


def test_a_submodule_named_like_a_public_function_does_not_shadow_it():
    import bayes_il2.classical.rma  # noqa: F401 - loads the submodule first, as classical.tables does
    from bayes_il2.classical import rma

    assert callable(rma) and rma.__module__ == "bayes_il2.classical.rma"
    assert rma([0.1, 0.3, -0.2], [0.04, 0.05, 0.06]).k == 3


@pytest.mark.parametrize("package", ["bayes_il2.effects", "bayes_il2.classical", "bayes_il2.plots"])
def test_every_public_name_resolves_and_unknown_names_raise(package):
    import importlib

    module = importlib.import_module(package)
    assert all(getattr(module, name) is not None for name in module.__all__)
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018
