"""Coverage and width plots: one panel per true tau and per varying grid row, one line per method."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_il2.plots.simulation import coverage_plot, width_plot
from bayes_il2.simulation.metrics import summarize


def fake_results() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for cell, (reporting, tau, k) in enumerate([(r, t, k) for r in ("complete", "bounds") for t in (0.0, 0.5)
                                                for k in (3, 6)]):
        for rep in range(20):
            for method in ("a", "b"):
                est = 0.3 + rng.normal(0, 0.2)
                rows.append({"cell": cell, "k": k, "tau": tau, "n": 60, "outcome": "continuous", "design_mix": 0.0,
                             "reporting": reporting, "mu": 0.3, "replicate": rep, "method": method,
                             "estimate": est, "ci_low": est - 0.4, "ci_high": est + 0.4, "divergences": 0,
                             "failed": False})
    return pd.DataFrame(rows)


def test_panels_follow_the_grid_and_lines_the_methods():
    summary = summarize(fake_results())
    assert len(summary) == 8 * 2
    fig = coverage_plot(summary, 0.95)
    axes = fig.get_axes()
    assert len(axes) == 2 * 2  # rows: reporting complete/bounds; columns: tau 0 and 0.5
    assert "tau = 0" in axes[0].get_title() and "reporting=complete" in axes[0].get_title()
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["a", "b"]
    assert any(line.get_ydata()[0] == 0.95 for line in axes[0].get_lines() if len(line.get_ydata()) == 2)
    assert len(width_plot(summary).get_axes()) == 4
