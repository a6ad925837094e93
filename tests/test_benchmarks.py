"""The benchmark script runs (smoke test of its cheapest section; `make bench` runs it all)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_exact_section_writes_a_results_table_with_its_target(tmp_path):
    out = tmp_path / "results.md"
    assert _load().main(["--quick", "--only", "exact", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "## Exact engine" in text and "| NNHM | 100 |" in text
    assert "Target: NNHM with k = 100" in text and ("**met**" in text or "**not met**" in text)


def test_unknown_sections_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        _load().main(["--only", "nonsense", "--out", str(tmp_path / "r.md")])


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="PSS is read from /proc (Linux)")
def test_a_command_is_measured_with_its_trees_rss_and_pss(tmp_path):
    """benchmarks/answers.py: `fit` forks figure processes that share pages with it; the PSS sum
    divides them among the sharers, so it is below the RSS sum (which counts them in each)."""
    import os

    sys.path.insert(0, str(SCRIPT.parent))
    from answers import run_command

    table = tmp_path / "two.csv"
    table.write_text("study_id,yi,vi\na,-0.5,0.1\nb,-0.2,0.05\nc,-0.9,0.2\n", encoding="utf-8")
    measured = run_command(["fit", str(table), "--out", str(tmp_path / "out"), "--quiet"],
                           dict(os.environ, MPLBACKEND="Agg"))
    assert measured.seconds > 0
    assert 0 < measured.peak_pss_mib < measured.peak_rss_mib
