"""A compile cache that survives the process: nutpie models compiled once per model structure.

Where the time goes
-------------------
``nutpie.compile_pymc_model`` spends about 0.3 s building the PyTensor functions of the log
density and of the expanded draws (PyTensor's own numba cache already serves those from disk) and
about 5 s compiling the two C callbacks that nutpie's Rust sampler calls (``numba.cfunc``). nutpie
builds those callbacks as closures over per-compile names (``uuid4`` keys of the data containers),
which numba refuses to cache ("uses dynamic globals"), so every new process paid the 5 s again.

What this module does
---------------------
It builds the same two callbacks from generated source that names nothing per-compile: the data
containers are read from nutpie's own ``user_data`` record by position (its memory layout is fixed
by the number of containers and their ranks: data pointers, sizes, then shapes, all 8-byte
integers), so ``CompiledPyMCModel.with_data`` keeps working unchanged. The source is registered
with a cache key, and a numba cache locator points numba at this module's directory for it. The key
is a sha256 of

- PyTensor's own structural cache keys of the two compiled function graphs (every node, type and
  constant; the data containers are inputs, so new data of the same shapes keeps the key; the same
  idea as :func:`bayes_il2.inference.same_structure`, hashed),
- the number of free parameters, the rank and dtype of each data container and their order,
- the versions of python, numba, llvmlite, pytensor, pymc, nutpie, numpy and of this module's
  callback template.

A second process fitting a model of the same structure (new data included) then loads the
compiled callbacks instead of compiling them. Directory: ``$BAYES_IL2_CACHE_DIR``, else
``$XDG_CACHE_HOME/bayes_il2``, else ``~/.cache/bayes_il2``; one sub-folder per version set
(so upgrading a library never loads stale machine code). numba writes each entry to a temporary
file and renames it into place (atomic), and a per-key file lock (``filelock``) makes concurrent
processes compile a new structure once, the others waiting and then loading it. Any failure falls
back to ``nutpie.compile_pymc_model`` (compiled, not cached) with the same results.

The draws are bit-identical to those of ``nutpie.compile_pymc_model`` for the same seed: the
callbacks compute the same PyTensor functions, and the package compiles without fast-math
(:func:`bayes_il2.inference.use_exact_floating_point`), so inlining cannot change rounding.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

TEMPLATE_VERSION = "1"
_LOCK = threading.Lock()
_stats = {"compiled": 0, "loaded": 0, "fallback": 0, "manifest": 0}


def cache_root() -> Path:
    """The per-user cache directory (``BAYES_IL2_CACHE_DIR`` > ``XDG_CACHE_HOME`` > ``~/.cache``)."""
    env = os.environ.get("BAYES_IL2_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "bayes_il2"


def library_versions() -> dict[str, str]:
    """Versions that decide whether compiled machine code may be reused."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0], "template": TEMPLATE_VERSION}
    for name in ("numba", "llvmlite", "pytensor", "pymc", "nutpie", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[name] = "absent"
    return out


def versioned_dir() -> Path:
    """``cache_root()/nutpie-<hash of library_versions()>``."""
    tag = hashlib.sha256(repr(sorted(library_versions().items())).encode()).hexdigest()[:16]
    return cache_root() / f"nutpie-{tag}"


def stats() -> dict[str, int]:
    """How many callback pairs were compiled, loaded from disk (``manifest``: of them, without building
    PyTensor functions), or fell back to nutpie (this process)."""
    return dict(_stats)


# --------------------------------------------------------------------------- numba cache locator
_SOURCE_KEYS: "weakref.WeakKeyDictionary[Any, str]"


def _install_locator() -> None:
    """Register (once) a numba cache locator for the callbacks generated here."""
    global _SOURCE_KEYS
    if "_SOURCE_KEYS" in globals():
        return
    import weakref

    from numba.core.caching import CacheImpl, _CacheLocator

    _SOURCE_KEYS = weakref.WeakKeyDictionary()

    class BayesIL2CacheLocator(_CacheLocator):
        def __init__(self, py_func, py_file, key):
            self._key = key

        def ensure_cache_path(self):
            versioned_dir().mkdir(parents=True, exist_ok=True)

        def get_cache_path(self):
            return str(versioned_dir())

        def get_source_stamp(self):
            return TEMPLATE_VERSION

        def get_disambiguator(self):
            return self._key

        @classmethod
        def from_function(cls, py_func, py_file):
            key = _SOURCE_KEYS.get(py_func)
            return None if key is None else cls(py_func, py_file, key)

    CacheImpl._locator_classes.insert(0, BayesIL2CacheLocator)


# --------------------------------------------------------------------------- callbacks
def _graph_key(fn_pt: Any) -> str | None:
    """PyTensor's structural cache key of a compiled numba function (None: not cacheable)."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    jit_fn = fn_pt.vm.jit_fn
    return CACHED_SRC_FUNCTIONS.get(getattr(jit_fn, "py_func", None))


def _layout(shared: list[np.ndarray]) -> tuple[list[int], list[int], list[list[int]]]:
    """Positions (in 8-byte words) of each container's data pointer, size and shape entries."""
    n = len(shared)
    shape_at, offset = [], 2 * n
    for value in shared:
        shape_at.append(list(range(offset, offset + value.ndim)))
        offset += value.ndim
    return list(range(n)), list(range(n, 2 * n)), shape_at


def _extract_lines(indices: list[int], shared: list[np.ndarray]) -> tuple[list[str], list[str]]:
    data_at, size_at, shape_at = _layout(shared)
    lines, names = [], []
    for j, i in enumerate(indices):
        dtype = np.dtype(shared[i].dtype).name
        shape = ", ".join(f"int(ud[{k}])" for k in shape_at[i])
        shape = f"({shape},)" if len(shape_at[i]) == 1 else f"({shape})"
        lines.append(f"        s{j} = numba.carray(address_as_void_pointer(ud[{data_at[i]}]), "
                     f"int(ud[{size_at[i]}]), np.{dtype}).reshape({shape})")
        names.append(f"s{j}")
    return lines, names


def _logp_source(n_dim: int, words: int, indices: list[int], shared: list[np.ndarray]) -> str:
    lines, names = _extract_lines(indices, shared)
    args = ", ".join(["x", *names])
    return "\n".join([
        "def bayes_il2_logp(dim, x_, out_, logp_, user_data_):",
        f"    if dim != {n_dim}:",
        "        return -1",
        "    try:",
        f"        ud = numba.carray(user_data_, ({words},), np.uint64)",
        f"        x = numba.carray(x_, ({n_dim},))",
        f"        out = numba.carray(out_, ({n_dim},))",
        "        logp = numba.carray(logp_, ())",
        *lines,
        f"        logp_val, grad = jit_fn({args})",
        "        logp[()] = logp_val",
        "        out[...] = grad",
        "        if not np.all(np.isfinite(out)):",
        "            return 3",
        "        if not np.isfinite(logp_val):",
        "            return 4",
        "    except Exception:",
        "        return 1",
        "    return 0",
    ])


def _expand_source(n_dim: int, n_expanded: int, words: int, indices: list[int], shared: list[np.ndarray]) -> str:
    lines, names = _extract_lines(indices, shared)
    args = ", ".join(["x", *names])
    return "\n".join([
        "def bayes_il2_expand(dim, expanded, x_, out_, user_data_):",
        f"    if dim != {n_dim}:",
        "        return -1",
        f"    if expanded != {n_expanded}:",
        "        return -1",
        "    try:",
        f"        ud = numba.carray(user_data_, ({words},), np.uint64)",
        f"        x = numba.carray(x_, ({n_dim},))",
        f"        out = numba.carray(out_, ({n_expanded},))",
        *lines,
        f"        (values,) = jit_fn({args})",
        "        out[...] = values",
        "    except Exception:",
        "        return -2",
        "    return 0",
    ])


def _cfunc(source: str, name: str, jit_fn: Any, signature: Any, key: str) -> Any:
    import numba
    from nutpie.compile_pymc import address_as_void_pointer

    env = {"__name__": __name__, "numba": numba, "np": np, "address_as_void_pointer": address_as_void_pointer,
           "jit_fn": jit_fn}
    local: dict[str, Any] = {}
    exec(compile(source, f"<bayes_il2 {name}>", "exec"), env, local)
    fn = local[name]
    _SOURCE_KEYS[fn] = key
    return numba.cfunc(signature, cache=True)(fn)


def compile_cached(model: Any) -> Any:
    """``nutpie.compile_pymc_model(model)`` with its C callbacks served from the disk cache.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        Usable wherever nutpie's own is (``nutpie.sample``, ``with_data``).
    """
    try:
        with _LOCK:
            return _compile_cached(model)
    except Exception as exc:  # noqa: BLE001 - never worse than nutpie itself
        import nutpie

        warnings.warn(f"bayes_il2 compile cache unavailable ({type(exc).__name__}: {exc}); compiling with nutpie",
                      RuntimeWarning, stacklevel=2)
        _stats["fallback"] += 1
        return nutpie.compile_pymc_model(model)


def _signatures() -> tuple[Any, Any]:
    """numba signatures of nutpie's log-density and expansion callbacks."""
    import numba

    double_p = numba.types.CPointer(numba.types.double)
    logp = numba.types.int64(numba.types.uint64, double_p, double_p, double_p, numba.types.voidptr)
    expand = numba.types.int64(numba.types.uint64, numba.types.uint64, double_p, double_p, numba.types.voidptr)
    return logp, expand


def _from_manifest(model: Any, structure: str, initial_point_fn: Any, folder: Path) -> Any | None:
    """The compiled model from a manifest of this structure and numba's cached callbacks, without
    PyTensor functions (None where any piece is missing or does not match).

    A manifest (written by an earlier process that compiled or loaded this structure) holds what
    nutpie derives from the PyTensor functions: sizes, the shapes of the expanded draw, the data
    containers' names and layout in nutpie's order, the callbacks' source and cache key. The
    callbacks are then loaded with no PyTensor function behind them: numba's cache loads the
    compiled code without looking at its globals, and on a cache miss the compilation fails (the
    function it calls is absent), so a callback in use is always the stored one.
    """
    import pickle

    from nutpie import compile_pymc as ncp

    from bayes_il2.function_cache import shared_by_name

    path = _manifest_path(folder, structure)
    if not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            manifest = pickle.load(f)
        shared = shared_by_name(model)
        shared_vars = [shared[name] for name in manifest["shared"]]
        values = []
        for var in shared_vars:
            value = np.array(var.get_value(), order="C", copy=True)
            value.flags.writeable = False
            values.append(value)
        if [(np.dtype(v.dtype).str, v.ndim) for v in values] != manifest["layout"]:
            return None
        shared_var_keys = {var: f"s{i}" for i, var in enumerate(shared_vars)}
        shared_data = {f"s{i}": value for i, value in enumerate(values)}
        user_data = ncp.make_user_data(shared_var_keys, shared_data)
        logp_sig, expand_sig = _signatures()
        key = manifest["callback_key"]
        logp_c = _cfunc(manifest["logp_src"], "bayes_il2_logp", None, logp_sig, key + "-logp")
        expand_c = _cfunc(manifest["expand_src"], "bayes_il2_expand", None, expand_sig, key + "-expand")
    except Exception:  # noqa: BLE001 - the full path below compiles or loads everything
        return None
    _stats["loaded"] += 1
    _stats["manifest"] += 1
    shape_info, reparameterized = manifest["shape_info"], manifest["reparameterized"]
    initial_point = ncp._rv_dict_to_flat_array_wrapper(initial_point_fn, names=manifest["names"],
                                                        shapes=manifest["shapes"])
    dims, coords = ncp._prepare_dims_and_coords(model, shape_info, reparameterized)
    return ncp.CompiledPyMCModel(
        _n_dim=manifest["n_dim"], dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp_c, compiled_expand_func=expand_c, initial_point_func=initial_point,
        shared_data=shared_data, shared_var_keys=shared_var_keys, user_data=user_data,
        n_expanded=manifest["n_expanded"], shape_info=shape_info, logp_func=None, expand_func=None,
        reparameterized_names=reparameterized)


def _manifest_path(folder: Path, structure: str) -> Path:
    return folder / f"manifest-{structure}.pkl"


def _compile_cached(model: Any) -> Any:
    from filelock import FileLock
    from nutpie import compile_pymc as ncp
    from pymc.initial_point import make_initial_point_fn

    from bayes_il2.function_cache import make_functions, structure_key

    _install_locator()
    initial_point_fn = ncp._wrap_with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True))
    folder = versioned_dir()
    structure = structure_key(model)
    if structure is not None:
        fast = _from_manifest(model, structure, initial_point_fn, folder)
        if fast is not None:
            return fast
    (n_dim, n_expanded, logp_fn_pt, expand_fn_pt, initial_point, shape_info,
     reparameterized_names) = make_functions(model, initial_point_fn, folder, structure)
    keys = (_graph_key(logp_fn_pt), _graph_key(expand_fn_pt))
    if None in keys:
        raise RuntimeError("PyTensor did not give the model's functions a cache key")

    # The data containers, in nutpie's order (logp's inputs first), with keys fixed by position.
    shared_vars: list[Any] = []
    for var in [*logp_fn_pt.get_shared(), *expand_fn_pt.get_shared()]:
        if var not in shared_vars:
            shared_vars.append(var)
    shared_var_keys = {var: f"s{i}" for i, var in enumerate(shared_vars)}
    shared_data = {}
    for var in shared_vars:
        value = np.array(var.get_value(), order="C", copy=True)
        value.flags.writeable = False
        shared_data[shared_var_keys[var]] = value
    values = [shared_data[shared_var_keys[v]] for v in shared_vars]
    user_data = ncp.make_user_data(shared_var_keys, shared_data)
    words = user_data.dtype.itemsize // 8
    if user_data.dtype.itemsize != 8 * (2 * len(values) + sum(v.ndim for v in values)):
        raise RuntimeError("nutpie's user_data layout is not the one this cache reads")
    logp_idx = [shared_vars.index(v) for v in logp_fn_pt.get_shared()]
    expand_idx = [shared_vars.index(v) for v in expand_fn_pt.get_shared()]

    logp_src = _logp_source(n_dim, words, logp_idx, values)
    expand_src = _expand_source(n_dim, n_expanded, words, expand_idx, values)
    layout = [(np.dtype(v.dtype).str, v.ndim) for v in values]
    key = hashlib.sha256(repr((keys, n_dim, n_expanded, layout, logp_idx, expand_idx, logp_src, expand_src,
                               sorted(library_versions().items()))).encode()).hexdigest()

    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{key}.done"
    logp_sig, expand_sig = _signatures()
    with FileLock(str(folder / f"{key}.lock")):
        was_cached = marker.exists()
        logp_c = _cfunc(logp_src, "bayes_il2_logp", logp_fn_pt.vm.jit_fn, logp_sig, key + "-logp")
        expand_c = _cfunc(expand_src, "bayes_il2_expand", expand_fn_pt.vm.jit_fn, expand_sig, key + "-expand")
        if not was_cached:
            marker.write_text("ok\n", encoding="utf-8")
    _stats["loaded" if was_cached else "compiled"] += 1
    shared_names = [v.name for v in shared_vars]
    if (structure is not None and all(shared_names) and len(set(shared_names)) == len(shared_names)
            and not _manifest_path(folder, structure).exists()):
        import pickle

        from bayes_il2.function_cache import store

        names = [model.rvs_to_values[v].name for v in model.free_RVs]
        all_shapes = ncp._compute_shapes(model)
        store(_manifest_path(folder, structure), pickle.dumps({
            "n_dim": n_dim, "n_expanded": n_expanded, "shape_info": shape_info,
            "reparameterized": reparameterized_names, "names": names, "shapes": [all_shapes[n] for n in names],
            "shared": shared_names, "layout": layout, "logp_src": logp_src, "expand_src": expand_src,
            "callback_key": key}))
    dims, coords = ncp._prepare_dims_and_coords(model, shape_info, reparameterized_names)
    return ncp.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp_c, compiled_expand_func=expand_c, initial_point_func=initial_point,
        shared_data=shared_data, shared_var_keys=shared_var_keys, user_data=user_data,
        n_expanded=n_expanded, shape_info=shape_info, logp_func=logp_fn_pt, expand_func=expand_fn_pt,
        reparameterized_names=reparameterized_names)
