"""``results/index.html``: the report over every analysis folder of a run (CLI entry point).

Reads what :func:`bayes_il2.pipeline.write_analysis` wrote; never refits.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bayes_il2.report import PageContext, load_analysis, write_report


def write_results_report(out_root: Path, names: list[str], registry: Any = None, seconds: float | None = None,
                         index_name: str = "index.html", errors: Mapping[str, str] | None = None) -> Path:
    """Write ``<out_root>/<index_name>`` covering the analyses ``names`` (folders under ``out_root``).

    Parameters
    ----------
    out_root : results directory (holds one folder per analysis)
    names : analysis names, in page order; a name without a folder is listed as missing
    registry : the loaded :class:`bayes_il2.evidence.Registry` (sources give the study links and its
        version goes in the footer); None for user data
    seconds : wall time of the whole run, for the footer
    index_name : file name of the page
    errors : analyses that failed in this run, name -> error message; they are shown as errors
        (never with the results an earlier run may have left in their folder)

    Returns
    -------
    Path of the page written.
    """
    out_root = Path(out_root)
    errors = dict(errors or {})
    analyses = []
    for name in names:
        if name in errors:
            placeholder = load_analysis(out_root / f".{name}.failed")  # no such folder: a 'missing' record
            analyses.append(replace(placeholder, name=name, title=name, status="error",
                                    verdict=f"failed in this run: {errors[name]}"))
        else:
            analyses.append(load_analysis(out_root / name))
    context = PageContext(registry_version=getattr(registry, "version", None), seconds=seconds,
                          sources=getattr(registry, "sources", None), studies=getattr(registry, "studies", None))
    return write_report(analyses, out_root / index_name, context)
