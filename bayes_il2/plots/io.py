"""Saving figures atomically (PNG, SVG, PDF)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bayes_il2._io import atomic_write_with
from bayes_il2.errors import ModelError

FORMATS = ("png", "svg", "pdf")
#: Resolution of the PNGs in a results folder: sharp on a screen and a printed page, a quarter of the
#: pixels of 300 dpi (the figures are written and embedded in the report in a fraction of the time);
#: for a journal, save the figure again with ``dpi=300`` or as PDF/SVG.
PAGE_DPI = 150


def save_figure(fig: Figure, path: str | Path, formats: Sequence[str] = ("png",), dpi: int = 300,
                close: bool = True) -> list[Path]:
    """Write ``fig`` to ``path.<format>`` for each format, each file atomically.

    Parameters
    ----------
    fig : Figure
    path : path without suffix (a suffix that names a format is replaced)
    formats : subset of ("png", "svg", "pdf")
    dpi : resolution of raster output (publication quality: 300)
    close : close the figure afterwards (frees its memory in long runs)

    Returns
    -------
    list of Path
        The files written.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ModelError(f"save_figure: format(s) {', '.join(bad)} not supported; allowed: {', '.join(FORMATS)}")
    base = Path(path)
    if base.suffix.lstrip(".") in FORMATS:
        base = base.with_suffix("")
    written = []
    for fmt in formats:
        target = base.with_name(f"{base.name}.{fmt}")
        atomic_write_with(target, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=dpi,
                                                                      bbox_inches="tight", facecolor="white"))
        written.append(target)
    if close:
        plt.close(fig)
    return written
