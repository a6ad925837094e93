"""The HTML report: read analysis folders written by the pipeline and render one self-contained page.

``load_analysis`` reads ``results/<name>/``; ``render_page`` builds the HTML; ``write_report`` writes it
atomically. Nothing here fits a model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bayes_il2._io import atomic_write_text
from bayes_il2.report.collect import AnalysisFolder, OutcomeFolder, load_analysis
from bayes_il2.report.render import PageContext, render_page

__all__ = ["AnalysisFolder", "OutcomeFolder", "PageContext", "load_analysis", "render_page", "write_report"]


def write_report(analyses: Sequence[AnalysisFolder | str | Path], out_path: str | Path,
                 context: PageContext | None = None) -> Path:
    """Render ``analyses`` (records or folders) and write the page to ``out_path`` atomically."""
    out_path = Path(out_path)
    records = [a if isinstance(a, AnalysisFolder) else load_analysis(a) for a in analyses]
    html = render_page(records, context, base=out_path.parent)
    return atomic_write_text(out_path, html)
