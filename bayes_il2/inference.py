"""Sampling PyMC models, grouping the log-likelihood by study, and refitting without recompiling.

The default sampler is nutpie (Seyboldt et al., nutpie; NUTS of Hoffman & Gelman 2014 with the
adaptation of the Stan team): the model's log density and gradient are compiled once with numba by
``nutpie.compile_pymc_model`` and kept in a :class:`CompiledSampler`; a refit with new data of the
same shapes swaps the values of the model's ``pm.Data`` containers with
``CompiledModel.with_data`` and samples again without compiling. PyMC's own NUTS
(``sampler="pymc"``) is the fallback, chosen automatically with a warning when nutpie cannot be
imported.

After sampling, :func:`add_study_log_likelihood` computes the pointwise log-likelihood with
``pm.compute_log_likelihood`` and sums every observation of a study into the variable ``y`` with
dim ``study_id`` (docs/architecture.md, "Fitted models"), and
:func:`add_posterior_predictive` draws every observed variable with
``pm.sample_posterior_predictive``.
"""
from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from bayes_il2.errors import ModelError


def use_exact_floating_point() -> None:
    """Compile every PyTensor numba function with strict IEEE arithmetic (``numba__fastmath=False``).

    PyTensor compiles with LLVM's fast-math flags by default (reassociation, contraction into fused
    multiply-adds, approximate functions). Under those flags the machine code of a function depends
    on what LLVM sees when it optimises it: a kernel compiled in this process is inlined into its
    caller and optimised together with it, while the same kernel loaded from PyTensor's on-disk
    numba cache is linked as finished object code. The log density then differs in its last bits
    between a process that starts with an empty compile cache and one that finds it warm, and NUTS,
    whose trajectories are chaotic in the log density, turns one ulp into different draws (eight
    schools, half-Cauchy(5): mu 6.447 on an empty cache, 6.555 on a warm one; issue #13). Without
    fast-math every operation is rounded as written wherever it is compiled, so a seed fixes the
    draws whatever the cache state, the process or the order of the analyses. Measured cost: none
    (sampling times equal within noise). Called on import of this module, before any model compiles.
    """
    import pytensor

    if pytensor.config.numba__fastmath:
        pytensor.config.numba__fastmath = False


use_exact_floating_point()

SAMPLERS = ("nutpie", "pymc")
DEFAULT_SEED = 20221110

_compilations = {"nutpie": 0}


def compile_count() -> int:
    """Number of nutpie compilations done in this process (lets tests prove a refit reused one)."""
    return _compilations["nutpie"]


def compile_nutpie(model: pm.Model) -> Any:
    """nutpie's compiled model, its C callbacks from the on-disk cache where it can
    (:mod:`bayes_il2.compile_cache`; ``BAYES_IL2_COMPILE_CACHE=0`` turns it off)."""
    import os

    if os.environ.get("BAYES_IL2_COMPILE_CACHE", "1") == "0":
        import nutpie

        return nutpie.compile_pymc_model(model)
    from bayes_il2.compile_cache import compile_cached

    return compile_cached(model)


def nutpie_available() -> bool:
    """True when nutpie (and its numba backend) can be imported."""
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return False
    return True


def _resolve_sampler(sampler: str) -> str:
    if sampler not in SAMPLERS:
        raise ModelError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    if sampler == "nutpie" and not nutpie_available():
        warnings.warn("nutpie cannot be imported; falling back to PyMC's NUTS sampler (sampler='pymc')",
                      RuntimeWarning, stacklevel=3)
        return "pymc"
    return sampler


@dataclass
class CompiledSampler:
    """A PyMC model together with its compiled nutpie log density, reusable across data sets.

    Parameters
    ----------
    model : pm.Model
        The model; its ``pm.Data`` containers are the data a refit may change.
    sampler : {"nutpie", "pymc"}
        Which NUTS implementation samples the model.

    Notes
    -----
    nutpie compiles lazily on the first :meth:`sample` call. :meth:`sample` with ``data`` samples the
    same compiled log density with other values in the ``pm.Data`` containers (same ranks; the
    shapes of dimensioned data must not change, since coords are fixed).
    """

    model: pm.Model
    sampler: str = "nutpie"
    _compiled: Any = field(default=None, repr=False)
    # sample() sets the model's data containers for its duration: one call at a time
    _lock: Any = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.sampler = _resolve_sampler(self.sampler)

    @property
    def compiled(self) -> Any:
        """The nutpie compiled model (compiled on first use)."""
        if self._compiled is None:
            self._compiled = compile_nutpie(self.model)
            _compilations["nutpie"] += 1
        return self._compiled

    def data_names(self) -> list[str]:
        """Names of the model's ``pm.Data`` containers."""
        return [v.name for v in self.model.data_vars]

    def _check_data(self, data: Mapping[str, Any]) -> dict[str, np.ndarray]:
        known = {v.name: v for v in self.model.data_vars}
        out = {}
        for name, value in data.items():
            if name not in known:
                raise ModelError(f"refit: the model has no data container {name!r}; it has {sorted(known)}")
            old = np.asarray(known[name].get_value())
            new = np.asarray(value, dtype=old.dtype)
            if new.shape != old.shape:
                raise ModelError(f"refit: data {name!r} has shape {new.shape}, the compiled model {old.shape}; "
                                 "a refit keeps the structure (use weights to leave studies out)")
            out[name] = new
        return out

    def sample(self, data: Mapping[str, Any] | None = None, *, draws: int = 1000, tune: int = 1000,
               chains: int = 4, target_accept: float = 0.9, seed: int = DEFAULT_SEED,
               progressbar: bool = False) -> xr.DataTree:
        """Sample the posterior, optionally with other values in the data containers.

        The PyMC model's data containers are set to ``data`` for the duration of the call (so the
        log-likelihood and predictive draws computed from them see the same data) and restored after.

        Returns
        -------
        xarray.DataTree
            Groups posterior, sample_stats, observed_data, constant_data.
        """
        with self._lock:
            return self._sample(data, draws=draws, tune=tune, chains=chains, target_accept=target_accept,
                                seed=seed, progressbar=progressbar)

    def _sample(self, data: Mapping[str, Any] | None, *, draws: int, tune: int, chains: int,
                target_accept: float, seed: int, progressbar: bool) -> xr.DataTree:
        new = self._check_data(data or {})
        old = {name: np.array(v.get_value()) for name, v in
               ((v.name, v) for v in self.model.data_vars) if name in new}
        try:
            if new:
                pm.set_data(new, model=self.model)
            if self.sampler == "nutpie":
                import nutpie

                compiled = self.compiled.with_data(**new) if new else self.compiled
                start = time.perf_counter()
                # Non-blocking, then wait ourselves: nutpie's blocking call turns a KeyboardInterrupt
                # into a truncated trace; an interrupt must stop the run, never yield partial draws.
                background = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                                           progress_bar=progressbar, target_accept=target_accept,
                                           save_warmup=False, blocking=False)
                try:
                    idata = background.wait()
                except BaseException:
                    background.cancel()
                    raise
                _check_complete(idata, draws, chains)
                idata = _add_data_groups(idata, self.model, time.perf_counter() - start)
            else:
                with self.model:
                    # PyMC 6 picks nutpie itself when nuts_sampler is left out: name PyMC's own NUTS.
                    idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed,
                                      target_accept=target_accept, progressbar=progressbar,
                                      compute_convergence_checks=False, nuts_sampler="pymc")
            return idata
        finally:
            if old:
                pm.set_data(old, model=self.model)


def _check_complete(idata: xr.DataTree, draws: int, chains: int) -> None:
    """Raise ModelError when the sampler returned fewer draws than asked (never pass on a partial trace)."""
    post = idata["posterior"]
    got = (post.sizes.get("chain", 0), post.sizes.get("draw", 0))
    if got != (chains, draws):
        raise ModelError(f"the sampler returned {got[0]} chains x {got[1]} draws instead of {chains} x {draws}; "
                         "a partial trace is never used")


def same_structure(a: pm.Model, b: pm.Model) -> bool:
    """True when two models compute the same log density and deterministics up to data values.

    The models must have the same free variables (names, transforms), deterministics, data
    containers (names, dtypes, ranks, shapes) and dimension lengths, and their graphs (log density
    and every deterministic as a function of the free variables' values) must be equal node by
    node with constants compared by value, the data containers (and dimension lengths held in
    shared variables) of one matched to those of the other. A compiled log density of ``a`` then
    samples ``b`` exactly once ``b``'s data values are swapped in (:meth:`CompiledSampler.sample`).
    """
    from pytensor.graph.basic import equal_computations

    from bayes_il2.function_cache import dim_length

    if a is b:
        return True

    def signature(m: pm.Model) -> tuple:
        data = tuple((v.name, str(v.type), np.shape(v.get_value())) for v in m.data_vars)
        dims = tuple(sorted((k, dim_length(v)) for k, v in m.dim_lengths.items()))
        return (tuple(v.name for v in m.free_RVs), tuple(v.name for v in m.value_vars),
                tuple(v.name for v in m.deterministics), tuple(v.name for v in m.observed_RVs),
                tuple(v.name for v in m.potentials), data, dims,
                tuple(sorted((k, tuple(d)) for k, d in m.named_vars_to_dims.items())))

    if signature(a) != signature(b):
        return False

    def graphs(m: pm.Model) -> list:
        return [m.logp(), *m.replace_rvs_by_values(m.deterministics)]

    def inputs(m: pm.Model) -> list:
        shared_dims = [v for v in m.dim_lengths.values() if hasattr(v, "owner") and v.owner is None]
        return [*m.value_vars, *m.data_vars, *shared_dims]

    return bool(equal_computations(graphs(a), graphs(b), inputs(a), inputs(b)))


def relabel_coords(idata: xr.DataTree, model: pm.Model) -> xr.DataTree:
    """Give every group's dimensions the coordinate labels of ``model`` (same lengths)."""
    coords = {name: list(values) for name, values in model.coords.items() if values is not None}
    for name in list(idata.children):
        ds = idata[name].to_dataset()
        labels = {d: coords[d] for d in ds.dims if d in coords}
        for d, values in labels.items():
            if ds.sizes[d] != len(values):
                raise ModelError(f"relabel: group {name!r} dim {d!r} has {ds.sizes[d]} entries; "
                                 f"the model has {len(values)} labels")
        if labels:
            idata[name] = xr.DataTree(ds.assign_coords(labels))
    return idata


def _add_data_groups(idata: xr.DataTree, model: pm.Model, seconds: float) -> xr.DataTree:
    """Attach observed_data and constant_data (nutpie returns posterior and sample_stats only)."""
    from pymc.backends.arviz import patch_nutpie_idata

    patch_nutpie_idata(idata, model, seconds)
    return idata


def sample(model: pm.Model, *, sampler: str = "nutpie", draws: int = 1000, tune: int = 1000,
           chains: int = 4, target_accept: float = 0.9, seed: int = DEFAULT_SEED,
           progressbar: bool = False) -> xr.DataTree:
    """Draw from the posterior of a PyMC model with NUTS.

    Parameters
    ----------
    model : pm.Model
        The model to sample.
    sampler : {"nutpie", "pymc"}
        nutpie (default; compiled with numba) or PyMC's NUTS. When nutpie cannot be imported the
        PyMC sampler is used and a ``RuntimeWarning`` says so.
    draws, tune, chains : int
        Kept draws per chain, warm-up iterations per chain, number of chains.
    target_accept : float
        Target acceptance statistic of the step-size adaptation.
    seed : int
        Seed; identical seeds give identical draws (same sampler, same machine).
    progressbar : bool
        Show a progress bar.

    Returns
    -------
    xarray.DataTree
        Groups posterior, sample_stats, observed_data, constant_data.

    References
    ----------
    Hoffman MD, Gelman A. The No-U-Turn sampler. JMLR 2014;15:1593-1623.
    """
    return CompiledSampler(model, sampler).sample(draws=draws, tune=tune, chains=chains,
                                                  target_accept=target_accept, seed=seed,
                                                  progressbar=progressbar)


def add_study_log_likelihood(idata: xr.DataTree, model: pm.Model,
                             study_index: Mapping[str, np.ndarray | None],
                             study_ids: list[str]) -> xr.DataTree:
    """Compute the pointwise log-likelihood and sum it per study into ``log_likelihood/y``.

    Parameters
    ----------
    idata : DataTree
        Holds the posterior.
    model : pm.Model
        The model that produced it (with the data the posterior was drawn with).
    study_index : mapping
        For each observed variable, the position in ``study_ids`` of each of its elements, or
        ``None`` when the variable already has dim ``study_id`` (one element per study).
    study_ids : list of str
        The ``study_id`` coordinate.

    Returns
    -------
    DataTree
        ``idata`` with a ``log_likelihood`` group holding only ``y`` (chain, draw, study_id).
    """
    names = list(study_index)
    ll = pm.compute_log_likelihood(idata, var_names=names, model=model, extend_inferencedata=False,
                                   progressbar=False)
    ds = ll["log_likelihood"].to_dataset() if isinstance(ll, xr.DataTree) else ll
    total = None
    for name in names:
        da = ds[name]
        index = study_index[name]
        if index is None:
            part = da
        else:
            obs_dim = [d for d in da.dims if d not in ("chain", "draw")]
            if len(obs_dim) != 1:
                raise ModelError(f"log-likelihood of {name!r} has dims {da.dims}; expected one observation dim")
            part = da.groupby(xr.DataArray(np.asarray(study_ids)[np.asarray(index)], dims=obs_dim[0],
                                           name="study_id")).sum()
            part = part.reindex(study_id=study_ids, fill_value=0.0)
        total = part if total is None else total + part
    total = total.transpose("chain", "draw", "study_id").assign_coords(study_id=study_ids)
    group = xr.Dataset({"y": total})
    group.attrs.update(ds.attrs)
    if "log_likelihood" in idata.children:
        del idata["log_likelihood"]
    idata["log_likelihood"] = xr.DataTree(group)
    return idata


#: PyTensor mode of the posterior predictive function. PyMC calls it once per draw; under the
#: default NUMBA mode each call pays numba's typing of its arguments (about 0.3 ms, 0.6 s of CPU for
#: 2,000 draws in `fit --counts` BCG) besides the compile. "FAST_COMPILE" (PyTensor's Python linker:
#: NumPy's own Generator and ufuncs) draws the same numbers, bit for bit, for the Normal and Binomial
#: observations of every family here (tests/test_fastfit2.py); ``None`` restores PyMC's default.
PREDICTIVE_MODE: str | None = "FAST_COMPILE"


def add_posterior_predictive(idata: xr.DataTree, model: pm.Model, var_names: list[str],
                             seed: int) -> xr.DataTree:
    """Draw the observed variables from their posterior predictive distribution.

    All draws in one call of one function (:func:`_vectorized_predictive`): the same numbers, bit
    for bit, as ``pm.sample_posterior_predictive``'s loop over draws (tested), in a fraction of its
    time (0.1 ms of Python per draw, about 0.5 s per fit of 4,000 draws). PyMC's loop is the
    fallback where the graph cannot be vectorized.
    """
    try:
        group = _vectorized_predictive(idata["posterior"].to_dataset(), model, var_names, seed)
    except Exception:  # noqa: BLE001 - PyMC's own loop computes the same draws, only slower
        group = None
    if group is None:
        group = _looped_predictive(idata, model, var_names, seed)
    if "posterior_predictive" in idata.children:
        del idata["posterior_predictive"]
    idata["posterior_predictive"] = xr.DataTree(group)
    return idata


def _vectorized_predictive(posterior: xr.Dataset, model: pm.Model, var_names: list[str],
                           seed: int) -> xr.Dataset | None:
    """The observed variables drawn for every posterior draw at once (None: shapes do not match).

    Each observed variable is rebuilt without its fixed ``size`` (its parameters already carry the
    study dimension), then PyMC's ``vectorize_over_posterior`` puts the posterior draws in place of
    the free variables, so one call of the compiled function draws (chain, draw, study). Every
    random variable keeps its own generator, seeded as PyMC seeds them, and NumPy draws an array
    in the order the loop draws its elements, hence the same numbers.
    """
    from pymc.sampling.forward import vectorize_over_posterior

    unsized = []
    for name in var_names:
        node = model[name].owner
        rng, _size, *params = node.inputs
        unsized.append(node.op.make_node(rng, None, *params).outputs[1])
    outputs = vectorize_over_posterior(unsized, posterior=posterior, input_rvs=model.free_RVs,
                                       allow_rvs_in_graph=True)
    mode = {} if PREDICTIVE_MODE is None else {"mode": PREDICTIVE_MODE}
    values = pm.pytensorf.compile([], outputs, random_seed=seed, **mode)()
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    data = {}
    for name, value in zip(var_names, values):
        dims = list(model.named_vars_to_dims.get(name, ()))
        shape = tuple(len(model.coords[d]) for d in dims) if all(model.coords.get(d) is not None for d in dims) \
            else None
        if shape is None or value.shape != (chains, draws, *shape):
            return None
        data[name] = xr.DataArray(value, dims=("chain", "draw", *dims))
    coords = {"chain": posterior["chain"], "draw": posterior["draw"]}
    coords.update({d: list(model.coords[d]) for name in var_names for d in model.named_vars_to_dims.get(name, ())})
    return xr.Dataset(data, coords=coords)


def _looped_predictive(idata: xr.DataTree, model: pm.Model, var_names: list[str], seed: int) -> xr.Dataset:
    """``pm.sample_posterior_predictive`` (a Python loop over the draws)."""
    compile_kwargs = {} if PREDICTIVE_MODE is None else {"compile_kwargs": {"mode": PREDICTIVE_MODE}}
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)  # PyMC logs "Sampling: [y]" at INFO on every call
    try:
        with warnings.catch_warnings():
            # The Potential only cancels likelihood terms of left-out studies; it plays no part in
            # the forward draws of the observed variables given the parameters sampled here.
            warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
            pp = pm.sample_posterior_predictive(idata, model=model, var_names=var_names,
                                                random_seed=seed, progressbar=False,
                                                return_inferencedata=True, **compile_kwargs)
    finally:
        logger.setLevel(level)
    return pp["posterior_predictive"].to_dataset()


def derived_seed(seed: int, stream: int) -> int:
    """An independent seed for a secondary random stream (e.g. posterior predictive draws)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])
