"""Packages whose public names load on first use (PEP 562).

A package that re-exports names from its modules imports all of them with itself; where one of those
modules is costly (scipy.stats alone takes about 0.4 s to import, matplotlib about 0.35 s), every
command that touches the package pays for it. :func:`lazy_names` gives the package a module
``__getattr__`` and ``__dir__`` that import a name's module when the name is first used.
"""
from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any


class _LazyPackage(types.ModuleType):
    """A package module whose public names are never shadowed by its submodules of the same name.

    Importing a submodule sets it as an attribute of its package; with eager re-exports the
    package's own ``from .rma import rma`` then put the function back. Lazily, nothing would: after
    ``import bayes_il2.classical.rma`` (by a sibling), ``bayes_il2.classical.rma`` would be the module.
    """

    _lazy_names: Mapping[str, str] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if (isinstance(value, types.ModuleType) and name in self._lazy_names
                and value.__name__ == f"{self.__name__}.{name}"):
            return  # the public name (loaded by __getattr__) wins, as with an eager re-export
        super().__setattr__(name, value)


def lazy_names(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps each public name to the module
    (relative to the package) that defines it.

    Any other name raises AttributeError without importing anything; this matters for submodules:
    ``from package import submodule`` asks ``__getattr__`` first and must not pull in another module.
    A submodule named like a public name (``classical.rma`` defines ``rma``) does not shadow it.
    """
    module = sys.modules[package]
    module.__class__ = _LazyPackage
    module._lazy_names = dict(names)

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
