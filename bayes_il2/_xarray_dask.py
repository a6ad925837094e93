"""xarray without importing dask for plain numpy data (issue #19: about 0.3 s of CPU per process).

xarray asks, for every array it wraps, whether the array is a dask array: the first question imports
``dask`` (``is_dask_collection``) and ``dask.array`` (``array_type("dask")``), about 0.3 s of CPU in a
process that holds only numpy arrays. Neither answer can be yes before dask is imported (a dask
collection or array is an instance of a dask class), so :func:`install` makes both questions answer
"no" without importing anything while ``dask``/``dask.array`` are absent from ``sys.modules``, and
xarray's own answer from the moment they are present (the simulation runner's Dask client, a user's
``chunks=``). Results are unchanged: only the import is deferred (``tests/test_fastfit2.py``).
"""
from __future__ import annotations

import sys
from typing import Any

from xarray.namedarray import pycompat, utils

_original_is_dask_collection = utils.is_dask_collection


def _is_dask_collection(x: object) -> bool:
    if "dask" not in sys.modules:
        return False  # nothing can be a dask collection before dask is imported
    return _original_is_dask_collection(x)


class _DeferredDaskModule:
    """Stands in for xarray's cached ``DuckArrayModule("dask")`` until ``dask.array`` is imported."""

    def _real(self) -> Any:
        real = pycompat.DuckArrayModule("dask")
        pycompat._cached_duck_array_modules["dask"] = real  # from now on xarray's own entry
        return real

    @property
    def type(self) -> tuple[type, ...]:
        module = sys.modules.get("dask.array")
        if module is None or getattr(module, "Array", None) is None:
            return ()  # no dask array exists yet (or dask.array is still being imported)
        return self._real().type

    def __getattr__(self, name: str) -> Any:  # module, version, available: xarray's, importing dask
        return getattr(self._real(), name)


def install() -> None:
    """Defer xarray's dask probes (idempotent; a no-op when xarray already imported dask)."""
    if utils.is_dask_collection is _original_is_dask_collection:
        utils.is_dask_collection = _is_dask_collection
    pycompat._cached_duck_array_modules.setdefault("dask", _DeferredDaskModule())  # type: ignore[arg-type]
