"""The HTML report: read analysis folders written by the pipeline and render one self-contained page.

``load_analysis`` reads ``results/<name>/``; ``render_page`` builds the HTML; ``write_report`` writes it
atomically; ``write_results_report`` writes the page over a whole results directory (the CLI's entry
point). Nothing here fits a model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from bayes_il2._io import atomic_write_text
from bayes_il2.report.collect import AnalysisFolder, OutcomeFolder, load_analysis
from bayes_il2.report.render import PageContext, render_page

__all__ = ["AnalysisFolder", "OutcomeFolder", "PageContext", "load_analysis", "render_page", "write_report",
           "write_results_report"]


def write_report(analyses: Sequence[Any], out_path: str | Path, context: PageContext | None = None) -> Path:
    """Render analyses and write the page atomically.

    Parameters
    ----------
    analyses : AnalysisFolder records, analysis folders (paths), or pipeline ``AnalysisRun`` objects
        (their ``out_dir`` is read)
    out_path : the page (``*.html``) or a directory (the page is then ``<dir>/index.html``)
    context : registry version, run time and sources for the footer and the study links

    Returns
    -------
    Path of the page written.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() not in (".html", ".htm"):
        out_path = out_path / "index.html"
    records = []
    for item in analyses:
        if isinstance(item, AnalysisFolder):
            records.append(item)
        elif getattr(item, "out_dir", None) is not None:
            records.append(load_analysis(item.out_dir))
        else:
            records.append(load_analysis(item))
    html = render_page(records, context, base=out_path.parent)
    return atomic_write_text(out_path, html)


from bayes_il2.report.results import write_results_report  # noqa: E402 - uses write_report above
