"""``results/index.html``: the report over every analysis folder of a results directory.

Reads what :func:`bayes_il2.pipeline.write_analysis` wrote; never refits. The combined page
(``index.html``) is rebuilt from every ``<out_root>/<name>/run.json`` present, so running one spec
updates that analysis's section and keeps the others. A user-fit page (any other ``index_name``)
covers only the analyses named, and is titled from the analysis (e.g. the input file).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bayes_il2.report.collect import load_analysis
from bayes_il2.report.render import PageContext

#: The combined page; it lists every analysis folder under the results directory.
COMBINED = "index.html"


def write_results_report(out_root: Path, names: list[str], registry: Any = None, seconds: float | None = None,
                         index_name: str = COMBINED, errors: Mapping[str, str] | None = None,
                         title: str | None = None) -> Path:
    """Write ``<out_root>/<index_name>`` covering the analyses ``names`` (folders under ``out_root``).

    Parameters
    ----------
    out_root : results directory (holds one folder per analysis)
    names : analysis names of this run; a name without a folder is listed as missing. For the
        combined page (``index_name == "index.html"``) every other folder of ``out_root`` holding a
        ``run.json`` is added; the page lists them all in name order
    registry : the loaded :class:`bayes_il2.evidence.Registry` (sources give the study links and its
        version goes in the footer); None for user data
    seconds : wall time of the whole run, for the footer
    index_name : file name of the page
    errors : analyses that failed in this run, name -> error message; they are shown as errors
        (never with the results an earlier run may have left in their folder)
    title : page title (default: the package's for the combined page, the analysis title for a
        one-analysis page written without a registry, i.e. a user fit)

    Returns
    -------
    Path of the page written.
    """
    out_root = Path(out_root)
    errors = dict(errors or {})
    names = list(dict.fromkeys(names))  # each analysis once
    if index_name == COMBINED:
        names = sorted(set(names) | present_analyses(out_root))
    analyses = []
    for name in names:
        if name in errors:
            placeholder = load_analysis(out_root / f".{name}.failed")  # no such folder: a 'missing' record
            analyses.append(replace(placeholder, name=name, title=name, status="error",
                                    verdict=f"failed in this run: {errors[name]}"))
        else:
            analyses.append(load_analysis(out_root / name))
    if title is None and index_name != COMBINED and registry is None and len(analyses) == 1:
        title = analyses[0].title
    context = PageContext(registry_version=getattr(registry, "version", None), seconds=seconds,
                          sources=getattr(registry, "sources", None), studies=getattr(registry, "studies", None),
                          **({"title": title} if title else {}))
    from bayes_il2.report import write_report

    return write_report(analyses, out_root / index_name, context)


def present_analyses(out_root: Path) -> set[str]:
    """Names of the analysis folders under ``out_root`` (those holding a ``run.json``)."""
    if not out_root.is_dir():
        return set()
    return {p.parent.name for p in out_root.glob("*/run.json") if not p.parent.name.startswith(".")}
