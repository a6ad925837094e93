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
