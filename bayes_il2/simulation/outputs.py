"""What a finished simulation study writes: the tidy table, the summary, the plots, a page.

``<out>/results.parquet`` (one row per scenario, replicate and method), ``<out>/summary.csv``
(every measure with its Monte-Carlo SE per scenario and method), ``<out>/coverage.png`` and
``<out>/width.png`` (against k), ``<out>/index.html``; each written atomically.
"""
from __future__ import annotations

import datetime as _dt
from html import escape
from pathlib import Path

import pandas as pd

from bayes_il2._io import atomic_write_text, atomic_write_with
from bayes_il2.simulation.metrics import summarize
from bayes_il2.simulation.spec import SimulationSpec

_SHOWN = [("k", "k"), ("tau", "tau"), ("n", "n"), ("outcome", "outcome"), ("design_mix", "single-arm share"),
          ("reporting", "reporting"), ("method", "method"), ("n_successful", "fits"),
          ("coverage", "coverage"), ("coverage_mcse", "MCSE"), ("width", "width"), ("width_mcse", "MCSE"),
          ("bias", "bias"), ("bias_mcse", "MCSE"), ("rmse", "RMSE"), ("rmse_mcse", "MCSE"),
          ("failure_rate", "failed"), ("divergent_rate", "divergent")]


def write_outputs(spec: SimulationSpec, results: pd.DataFrame, out_dir: str | Path) -> pd.DataFrame:
    """Write the study's files into ``out_dir``; return the summary table."""
    from bayes_il2.plots.io import save_figure
    from bayes_il2.plots.simulation import coverage_plot, width_plot

    out = Path(out_dir)
    summary = summarize(results)
    atomic_write_with(out / "results.parquet", lambda tmp: results.to_parquet(tmp, index=False))
    atomic_write_with(out / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))
    save_figure(coverage_plot(summary, spec.level), out / "coverage", dpi=150)
    save_figure(width_plot(summary), out / "width", dpi=150)
    atomic_write_text(out / "index.html", study_page(spec, summary))
    return summary


def study_page(spec: SimulationSpec, summary: pd.DataFrame) -> str:
    """A self-contained HTML page for one study (figures referenced beside it)."""
    from bayes_il2.report.render import html_table

    methods = "".join(f"<li><b>{escape(m.name)}</b>: {escape(m.kind)}"
                      f"{escape(f', tau prior {m.tau_prior}') if m.tau_prior else ''}</li>" for m in spec.methods)
    g = spec.scenarios
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    failures = summary["failure_rate"].max() if len(summary) else 0.0
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(spec.title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
.scroll{{overflow-x:auto}}.muted{{color:#666}}img{{max-width:100%}}</style></head><body>
<h1>{escape(spec.title)}</h1>
<p><b>Question.</b> {escape(spec.question)}</p>
<p>{spec.replicates} replicates per scenario; true mu = {g.mu:g}; k in {list(g.k)}; tau in {list(g.tau)};
n per study in {list(g.n)}; outcomes {', '.join(g.outcome)}; reporting {', '.join(g.reporting)}
(degraded share {g.degraded_fraction:g}); single-arm share {list(g.design_mix)}; root seed {spec.seed};
intervals at {spec.level:.0%}. Largest failure rate: {failures:.3f}.</p>
<ul>{methods}</ul>
<h2>Coverage</h2><img src="coverage.png" alt="coverage against k">
<h2>Interval width</h2><img src="width.png" alt="interval width against k">
<h2>Summary (Monte-Carlo SEs per Morris, White &amp; Crowther 2019)</h2>
{html_table(summary, _SHOWN)}
<p class="muted">Files: results.parquet (one row per replicate and method), summary.csv. Generated {when}
by <code>bayes-il2 simulate {escape(spec.source)}</code>.</p>
</body></html>
"""
