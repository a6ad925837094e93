"""nutpie's PyTensor functions of a model, stored on disk and keyed by the model's structure.

Why
---
Before nutpie compiles its C callbacks (served from disk by :mod:`bayes_il2.compile_cache`), it
builds two PyTensor functions: the log density with its gradient, and the expansion of a draw into
every deterministic (``nutpie.compile_pymc._make_functions``). Most of that time is PyTensor's graph
rewriting (canonicalise, stabilise, specialise, fuse), paid again in every process: 0.5-3 s per
model, about 20 s summed over a ``bayes-il2 run`` (benchmarks/results.md, issue #19). A pickled
PyTensor function keeps its rewritten graph; unpickling re-links it (the numba code comes from
PyTensor's own disk cache) without rewriting.

Key
---
:func:`structure_key` hashes what a model's sampler functions are made from, node by node in
topological order: each operation's class and parameters (``__props__``; the inner graph of an
operation defined by a graph, such as ``logaddexp`` or a symbolic random variable), the types of its
inputs and outputs, and every constant by the bytes of its value (priors' parameters and index arrays
are constants). The data containers are inputs, so a model of the same structure with other data
values has the same key. Two graphs can be hashed:

- the generative graph (the default, 1-10 ms): every random variable, deterministic and potential,
  the observed values and each free variable's transform, the random generators as roots named by
  position. PyMC derives the log density from these alone (with ``check_bounds`` and its version,
  both in the key), so equal generative graphs give equal functions. An operation or transform whose
  class is made on the fly (a ``CustomDist``), or a transform holding a function that is not PyMC's
  own, is not described here;
- otherwise the log density and every deterministic as functions of the free variables' values and
  the data containers (the graphs :func:`bayes_il2.inference.same_structure` compares), which PyMC
  must derive first: 0.05-0.5 s a model, which the generative graph saves in every process (issue #19).

The two kinds never share a key. Added to it: the free variables', value variables', observed
variables', deterministics', potentials' and data containers' names (types, shapes), the dimension
lengths, ``check_bounds`` and the library versions (:func:`bayes_il2.compile_cache.library_versions`,
through the versioned folder). Anything neither graph can describe exactly (an operation whose
parameters print as an address, a root that is neither an input nor a constant, an object-valued
constant) gives no key, and the functions are built as nutpie builds them.

Using a stored entry, the functions' data containers are set to the values of the model being
compiled (matched by name, rank and dtype), so its draws are those of nutpie's own compilation
(tested bit for bit). Entries are written to a temporary file and renamed into place (atomic); an
unreadable entry is rebuilt and replaced.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: Bump when what an entry holds changes.
ENTRY_VERSION = "1"
_SIMPLE = (str, int, float, bool, type(None), np.dtype)
_stats = {"built": 0, "loaded": 0, "unkeyed": 0}


class Unkeyable(ValueError):
    """The graph holds something :func:`structure_key` cannot describe exactly."""


def stats() -> dict[str, int]:
    """Function pairs built, loaded from disk, or built without a key (this process)."""
    return dict(_stats)


def _simple(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_simple(v) for v in value)
    return isinstance(value, _SIMPLE)


def _found_by_name(cls: type) -> bool:
    """Whether ``cls`` is what its module holds under its name (not a class made on the fly)."""
    import sys

    owner: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        owner = getattr(owner, part, None)
    return owner is cls


def _op_description(op: Any, named_classes_only: bool = False) -> str:
    name = f"{type(op).__module__}.{type(op).__qualname__}"
    if named_classes_only and not _found_by_name(type(op)):
        raise Unkeyable(f"{name}: a class made on the fly")
    props = getattr(op, "__props__", None)
    if props is not None:
        parts = []
        for prop in props:
            value = getattr(op, prop)
            if _simple(value):
                text = repr(value)
            elif hasattr(value, "__props__") or hasattr(value, "fgraph"):  # a scalar op inside an Elemwise
                text = _op_description(value, named_classes_only)
            else:
                text = repr(value)
                if " at 0x" in text:
                    raise Unkeyable(f"{name}.{prop} = {text}")
            parts.append(f"{prop}={text}")
        return f"{name}({','.join(parts)})"
    inner = getattr(op, "fgraph", None)
    if inner is not None:  # an operation defined by a graph of its own (OpFromGraph, SymbolicOp)
        options = dict(sorted(getattr(op, "kwargs", {}).items()))
        if not all(_simple(v) for v in options.values()):
            raise Unkeyable(f"{name}: options {options!r}")
        return f"{name}[{graph_digest(list(inner.inputs), list(inner.outputs), named_classes_only)}]{options!r}"
    state = dict(sorted(vars(op).items()))
    if not all(_simple(v) for v in state.values()):
        raise Unkeyable(f"{name}: {sorted(state)}")
    return f"{name}{state!r}"


def graph_digest(inputs: list[Any], outputs: list[Any], named_classes_only: bool = False) -> str:
    """sha256 of the graph from ``inputs`` to ``outputs``: operations, types, constants by value.

    ``named_classes_only``: an operation whose class is not found under its own name is Unkeyable
    (a class made on the fly may carry behaviour its parameters do not show).

    Raises
    ------
    Unkeyable
        Where a part of the graph cannot be described exactly.
    """
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import io_toposort

    digest = hashlib.sha256()
    names: dict[Any, str] = {}
    for i, var in enumerate(inputs):
        names[var] = f"i{i}"
        digest.update(f"input {i} {var.type}\n".encode())

    def name_of(var: Any) -> str:
        if var in names:
            return names[var]
        if isinstance(var, Constant):
            if var.data is None:  # e.g. a random variable's size left out
                names[var] = f"c({var.type},None)"
                return names[var]
            value = np.asarray(var.data)
            if value.dtype == object:
                raise Unkeyable(f"an object-valued constant {var}")
            data = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
            names[var] = f"c({var.type},{value.dtype.str},{value.shape},{data})"
            return names[var]
        raise Unkeyable(f"a root that is neither an input nor a constant: {var} ({type(var).__name__})")

    for node in io_toposort(inputs, outputs):
        arguments = [name_of(v) for v in node.inputs]
        for out in node.outputs:
            names[out] = f"n{len(names)}"
        digest.update(f"{_op_description(node.op, named_classes_only)} {arguments} {[str(o.type) for o in node.outputs]}\n".encode())
    digest.update(repr([name_of(v) for v in outputs]).encode())
    return digest.hexdigest()


def structure_key(model: Any) -> str | None:
    """The key of a PyMC model's structure (module docstring); None where the graph cannot be keyed.

    Keyed on the model's generative graph where it can be described exactly (milliseconds), else on
    its log-density graph (PyMC derives it first: 0.05-0.5 s a model); the two kinds never share a key.
    """
    for kind, graphs_of in (("generative", _generative_graphs), ("log density", _log_density_graphs)):
        try:
            graphs = graphs_of(model)
        except Unkeyable:
            continue
        data = [(v.name, str(v.type), np.shape(v.get_value())) for v in model.data_vars]
        dims = sorted((k, dim_length(v)) for k, v in model.dim_lengths.items())
        signature = (ENTRY_VERSION, kind, graphs, [v.name for v in model.free_RVs], [v.name for v in model.value_vars],
                     [str(v.type) for v in model.value_vars], [v.name for v in model.observed_RVs],
                     [v.name for v in model.deterministics], [v.name for v in model.potentials], data, dims,
                     bool(model.check_bounds), sorted((k, tuple(d)) for k, d in model.named_vars_to_dims.items()))
        return hashlib.sha256(repr(signature).encode()).hexdigest()
    return None


def _model_inputs(model: Any) -> list[Any]:
    shared_dims = [v for v in model.dim_lengths.values() if hasattr(v, "owner") and v.owner is None]
    return [*model.data_vars, *shared_dims]


def _log_density_graphs(model: Any) -> str:
    """The log density and every deterministic as functions of the free variables' values and the data."""
    return graph_digest([*model.value_vars, *_model_inputs(model)],
                        [model.logp(), *model.replace_rvs_by_values(model.deterministics)])


def _generative_graphs(model: Any) -> str:
    """The graph of every random variable, deterministic and potential, the observed values and the
    free variables' transforms: what PyMC derives the log density from (with ``check_bounds`` and the
    library versions, part of the key elsewhere). Random generators are roots named by position
    (their state does not enter the log density); an operation whose class cannot be found under
    its name (one made on the fly, e.g. for a user's log density) is not described here."""
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

    observed = [model.rvs_to_values[rv] for rv in model.observed_RVs]
    outputs = [*model.free_RVs, *model.observed_RVs, *model.deterministics, *model.potentials, *observed]
    inputs = _model_inputs(model)
    generators = [v for v in graph_inputs(outputs)
                  if isinstance(v, RandomGeneratorSharedVariable) and v not in inputs]
    transforms = [_transform_description(model.rvs_to_transforms.get(rv)) for rv in model.free_RVs]
    return repr((graph_digest([*inputs, *generators], outputs, named_classes_only=True), transforms))


def _transform_description(transform: Any) -> str:
    if transform is None:
        return "None"
    cls = type(transform)
    if not _found_by_name(cls):
        raise Unkeyable(f"transform {cls.__qualname__}: a class made on the fly")
    parts = []
    for name, value in sorted(vars(transform).items()):
        if callable(value):
            text = _pymc_function(value)
        elif _simple(value):
            text = repr(value)
        else:
            raise Unkeyable(f"transform {cls.__qualname__}.{name} = {value!r}")
        parts.append(f"{name}={text}")
    return f"{cls.__module__}.{cls.__qualname__}({','.join(parts)})"


def _pymc_function(fn: Any) -> str:
    """A function of PyMC's own (fixed by its version, part of the key) with plain values in its
    closure, e.g. the bounds of a bounded variable's default interval transform; Unkeyable otherwise
    (a user's function may change without a version that says so)."""
    module = getattr(fn, "__module__", None) or ""
    cells = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ())]
    if module.split(".")[0] != "pymc" or not all(_simple(c) for c in cells) or getattr(fn, "__defaults__", None):
        raise Unkeyable(f"function {getattr(fn, '__qualname__', fn)!r} of {module!r}")
    return f"{module}.{fn.__qualname__}{tuple(cells)!r}"


def dim_length(length: Any) -> int:
    """A model dimension's length: a shared variable's value, a constant's data, else evaluated (slow:
    ``eval`` compiles a function)."""
    if hasattr(length, "get_value"):
        return int(np.asarray(length.get_value()))
    if hasattr(length, "data"):
        return int(np.asarray(length.data))
    if hasattr(length, "eval"):
        return int(np.asarray(length.eval()))
    return int(length)


def shared_by_name(model: Any) -> dict[str, Any]:
    """The model's shared variables by name: data containers and shared dimension lengths."""
    out = {v.name: v for v in model.data_vars}
    out.update({v.name: v for v in model.dim_lengths.values() if hasattr(v, "get_value") and v.name})
    return out


def store(path: Path, payload: bytes) -> None:
    """Write a cache entry atomically; a failure only costs a later process the time it would save."""
    from bayes_il2._io import atomic_write_bytes

    try:
        atomic_write_bytes(path, payload)
    except OSError:
        pass


def _bind_data(functions: list[Any], model: Any) -> bool:
    """Set the functions' data containers to the model's values (by name); False where one has no match."""
    shared = shared_by_name(model)
    for fn in functions:
        for var in fn.get_shared():
            if var.name not in shared:
                return False
            old = np.asarray(var.get_value())
            new = np.asarray(shared[var.name].get_value())
            if old.ndim != new.ndim or old.dtype != new.dtype:
                return False
            var.set_value(new)
    return True


def make_functions(model: Any, initial_point_fn: Any, folder: Path, key: str | None = None) -> tuple:
    """``nutpie.compile_pymc._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True)``,
    its two PyTensor functions from ``folder`` where an entry of the model's structure is there.

    Returns the same tuple as nutpie (n_dim, n_expanded, logp_fn, expand_fn, initial_point,
    shape_info, reparameterized_names).
    """
    import cloudpickle
    from filelock import FileLock
    from nutpie import compile_pymc as ncp

    def build() -> tuple:
        return ncp._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True,
                                   pymc_initial_point_fn=initial_point_fn, var_names=None)

    key = key or structure_key(model)
    if key is None:
        _stats["unkeyed"] += 1
        return build()
    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / f"functions-{key}.pkl"
    with FileLock(str(folder / f"functions-{key}.lock")):
        if entry.exists():
            try:
                with open(entry, "rb") as f:
                    stored = cloudpickle.load(f)
                n_dim, n_expanded, logp_fn, expand_fn, shape_info, reparameterized, names, shapes = stored
                if _bind_data([logp_fn, expand_fn], model):
                    _stats["loaded"] += 1
                    initial_point = ncp._rv_dict_to_flat_array_wrapper(initial_point_fn, names=names, shapes=shapes)
                    return n_dim, n_expanded, logp_fn, expand_fn, initial_point, shape_info, reparameterized
            except Exception as exc:  # noqa: BLE001 - a bad entry is rebuilt, never trusted
                warnings.warn(f"bayes_il2 function cache: entry {entry.name} unreadable ({type(exc).__name__}); "
                              "rebuilding it", RuntimeWarning, stacklevel=2)
        out = build()
        _stats["built"] += 1
        n_dim, n_expanded, logp_fn, expand_fn, _, shape_info, reparameterized = out
        names = [model.rvs_to_values[v].name for v in model.free_RVs]
        all_shapes = ncp._compute_shapes(model)
        shapes = [all_shapes[name] for name in names]
        store(entry, cloudpickle.dumps((n_dim, n_expanded, logp_fn, expand_fn, shape_info, reparameterized, names,
                                        shapes)))
        return out
