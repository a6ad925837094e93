"""Import ``arviz_stats`` without lazy_loader's walk over the source of the whole call stack.

``arviz_base.io_numpyro`` proxies ``jax`` and ``numpyro`` with ``lazy_loader.load``. Where they are
not installed, ``load`` records its caller with ``inspect.stack()``, which reads the source lines of
every frame on the stack and, for the import machinery's frames, builds inspect's module-to-file
map (a realpath of every loaded module): 0.1-0.2 s of an exact ``fit`` (issue #19), for an error
message shown only if jax is used through arviz. While arviz_stats is first imported here,
``inspect.stack`` returns the same frames with the code's file name and without source lines
(``code_context`` None, which lazy_loader's message allows). Nothing else changes.
"""
from __future__ import annotations

import sys
from types import ModuleType


def arviz_stats() -> ModuleType:
    """The ``arviz_stats`` module, imported on first use (see the module docstring)."""
    module = sys.modules.get("arviz_stats")
    if module is not None:
        return module
    import inspect

    original = inspect.stack

    def stack(context: int = 1) -> list[inspect.FrameInfo]:  # the frames, without looking up any source
        frames, frame = [], sys._getframe(1)
        while frame is not None:
            frames.append(inspect.FrameInfo(frame, frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name,
                                            None, None))
            frame = frame.f_back
        return frames

    inspect.stack = stack
    try:
        import arviz_stats as module
    finally:
        inspect.stack = original
    return module


#: What nutpie takes from the ``arviz`` namespace (nutpie/sample.py: its draws become a DataTree);
#: both are arviz_base's own functions, re-exported by ``arviz``.
_NUTPIE_NAMES = frozenset({"from_dict", "dict_to_dataset"})


class _DeferredArviz(ModuleType):
    """Stands in for the ``arviz`` umbrella module until a name other than nutpie's is asked for.

    ``import nutpie`` imports ``arviz``, which imports arviz_base, arviz_stats and arviz_plots, and with
    arviz_plots matplotlib: about 0.7 s of a ``fit --counts`` whose parent never draws (its figures are
    drawn in a child). nutpie uses two arviz_base functions; any other name, or a submodule, imports the
    real ``arviz`` (arviz_stats first, through :func:`arviz_stats`), which replaces this stand-in in
    ``sys.modules`` and answers from then on.
    """

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name not in ("__path__", "__version__"):
            # inspect.getmodule asks every module in sys.modules for __file__: no reason to import
            raise AttributeError(name)
        if name in _NUTPIE_NAMES:
            import arviz_base

            return getattr(arviz_base, name)
        return getattr(_real_arviz(), name)


def _real_arviz() -> ModuleType:
    if isinstance(sys.modules.get("arviz"), _DeferredArviz):
        del sys.modules["arviz"]
    arviz_stats()
    import arviz

    return arviz


def defer_arviz_umbrella() -> None:
    """Put :class:`_DeferredArviz` in ``sys.modules`` unless ``arviz`` is imported already. For the
    console script only (like :func:`bayes_il2._xarray_dask.install`): a library user's ``arviz`` is
    left as it is."""
    if "arviz" not in sys.modules:
        sys.modules["arviz"] = _DeferredArviz("arviz", "arviz, imported on first use (bayes_il2._arviz)")
