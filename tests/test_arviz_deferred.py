"""Issue #19: the console script defers the ``arviz`` umbrella that ``import nutpie`` pulls in
(arviz_plots and matplotlib, in a parent that draws nothing): nutpie gets arviz_base's two functions,
anything else imports the real ``arviz``, which then replaces the stand-in."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(code)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_nutpie_imports_without_arviz_plots_and_any_other_name_imports_the_real_arviz():
    got = _python("""
        import inspect, json, sys
        from bayes_il2._arviz import defer_arviz_umbrella
        defer_arviz_umbrella()
        import arviz_base
        import nutpie
        import arviz
        after_nutpie = sorted(m for m in ("arviz_plots", "matplotlib") if m in sys.modules)
        same = arviz.from_dict is arviz_base.from_dict and arviz.dict_to_dataset is arviz_base.dict_to_dataset
        inspect.getmodule(json.dumps)  # asks every module for __file__: must not import arviz
        still_deferred = type(sys.modules["arviz"]).__name__
        summary = arviz.summary  # another name: the real arviz
        import arviz_stats
        print(json.dumps({"after_nutpie": after_nutpie, "same": same, "still_deferred": still_deferred,
                          "real": type(sys.modules["arviz"]).__name__, "summary": summary is arviz_stats.summary,
                          "version": arviz.__version__ == sys.modules["arviz"].__version__}))
    """)
    assert got == {"after_nutpie": [], "same": True, "still_deferred": "_DeferredArviz", "real": "module",
                   "summary": True, "version": True}


def test_an_arviz_imported_before_is_left_as_it_is():
    got = _python("""
        import json, sys
        import arviz
        from bayes_il2._arviz import defer_arviz_umbrella
        defer_arviz_umbrella()
        print(json.dumps({"same": sys.modules["arviz"] is arviz}))
    """)
    assert got == {"same": True}
