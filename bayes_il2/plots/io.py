"""Saving figures atomically (PNG, SVG, PDF)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bayes_il2._io import atomic_write_bytes, atomic_write_with
from bayes_il2.errors import ModelError

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: writing a drawn one needs none
    from matplotlib.figure import Figure

FORMATS = ("png", "svg", "pdf")
#: Resolution of the PNGs in a results folder: sharp on a screen and a printed page, a quarter of the
#: pixels of 300 dpi (the figures are written and embedded in the report in a fraction of the time);
#: for a journal, save the figure again with ``dpi=300`` or as PDF/SVG.
PAGE_DPI = 150


@dataclass(frozen=True)
class RenderedFigure:
    """A figure already drawn to file contents: what a child process sends back instead of the
    Figure (the bytes :func:`save_figure` would write).

    Attributes
    ----------
    files : format -> file contents
    dpi : resolution of the raster formats
    """

    files: dict[str, bytes]
    dpi: int


#: Attribute of a figure that lays itself out to its own size (:func:`mark_sized_to_fit`).
_SIZED_TO_FIT = "bayes_il2_sized_to_fit"


def mark_sized_to_fit(fig: Figure) -> Figure:
    """Mark ``fig`` as laid out to its own size, every artist inside it with its margins (the forest
    plot measures its texts and sets its height itself): it is saved as it is, without
    ``bbox_inches="tight"``, whose measuring pass draws the whole figure once more (about a third of
    a forest plot's saving time)."""
    setattr(fig, _SIZED_TO_FIT, True)
    return fig


def _savefig(fig: Figure, target, fmt: str, dpi: int) -> None:
    bbox = None if getattr(fig, _SIZED_TO_FIT, False) else "tight"
    fig.savefig(target, format=fmt, dpi=dpi, bbox_inches=bbox, facecolor="white")


def render_figure(fig: Figure, formats: Sequence[str] = ("png",), dpi: int = PAGE_DPI,
                  close: bool = True) -> RenderedFigure:
    """Draw ``fig`` in each format to bytes (byte for byte what :func:`save_figure` writes)."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ModelError(f"render_figure: format(s) {', '.join(bad)} not supported; allowed: {', '.join(FORMATS)}")
    files = {}
    for fmt in formats:
        buffer = io.BytesIO()
        _savefig(fig, buffer, fmt, dpi)
        files[fmt] = buffer.getvalue()
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return RenderedFigure(files=files, dpi=dpi)


def save_figure(fig: Figure | RenderedFigure, path: str | Path, formats: Sequence[str] = ("png",), dpi: int = 300,
                close: bool = True) -> list[Path]:
    """Write ``fig`` to ``path.<format>`` for each format, each file atomically.

    Parameters
    ----------
    fig : Figure, or a RenderedFigure drawn in these formats at this dpi
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
    if isinstance(fig, RenderedFigure):
        missing = [f for f in formats if f not in fig.files]
        if missing or fig.dpi != dpi:
            raise ModelError(f"save_figure: the figure was rendered as {', '.join(fig.files)} at {fig.dpi} dpi; "
                             f"asked for {', '.join(formats)} at {dpi} dpi")
        for fmt in formats:
            written.append(atomic_write_bytes(base.with_name(f"{base.name}.{fmt}"), fig.files[fmt]))
        return written
    for fmt in formats:
        target = base.with_name(f"{base.name}.{fmt}")
        atomic_write_with(target, lambda tmp, fmt=fmt: _savefig(fig, tmp, fmt, dpi))
        written.append(target)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return written
