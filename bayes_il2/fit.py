"""The fitted-model object shared by modeling, diagnostics, plots and the report.

A :class:`Fit` holds the posterior as an ``xarray.DataTree`` plus everything needed to say what was
fitted and reproduce it: family, measure, the data table (and its sha256), priors, sampler, seed,
software versions and settings (docs/architecture.md, "Fitted models").
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sys
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_il2.effects.measures import natural_scale
from bayes_il2.errors import ModelError


#: Posterior variables on the model (effect) scale that a natural-scale summary transforms.
# mu_new_disease (the mean of a new disease) and theta_new_design (a new study of a biased design)
# are locations too: left out, summary.csv showed them on the model scale beside natural-scale rows.
LOCATION_VARS = ("mu", "theta", "theta_new", "mu_disease", "theta_new_disease", "mu_new_disease",
                 "theta_new_design")
SCALES = ("model", "natural")
_VERSIONED = ("pymc", "pytensor", "arviz", "nutpie", "numpy", "bayes_il2")


def data_fingerprint(data: pd.DataFrame) -> str:
    """sha256 of the table written as CSV (columns in order, no index, full float precision)."""
    text = data.to_csv(index=False, float_format="%.17g", lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def software_versions() -> dict[str, str]:
    """Installed versions of the libraries a fit depends on ("absent" when not installed)."""
    return dict(_installed_versions())


@functools.lru_cache(maxsize=1)
def _installed_versions() -> tuple[tuple[str, str], ...]:
    # read once per process: each look-up scans the installed distributions (about 50 ms for all)
    out = []
    for name in _VERSIONED:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "absent"))
    return tuple(out)


def _label(name: str, coords: dict[str, Any]) -> str:
    if not coords:
        return name
    return f"{name}[{','.join(str(v) for v in coords.values())}]"


@dataclass(frozen=True)
class Fit:
    """A fitted PyMC model.

    Attributes
    ----------
    idata : xarray.DataTree
        Groups posterior, sample_stats, log_likelihood (``y`` per study: the study's likelihood
        with its own random effects integrated out where the family allows, see
        :mod:`bayes_il2.modeling._common`), posterior_predictive, observed_data, constant_data.
    family : str
        Model family (``nnhm``, ``three_level``, ``binomial_normal``, ``single_arm``, ``treg``).
    measure : str
        Effect measure code of the model scale (e.g. ``ROMC``, ``OR``, ``PLO``).
    data : pandas.DataFrame
        The effect or event table that was fitted.
    model : pm.Model or None
        The PyMC model (None after :meth:`load`).
    priors : dict
        Prior of each parameter (prior objects; after :meth:`load` rebuilt where they are
        ``bayes_il2.priors`` objects, else their repr strings).
    sampler : str
        ``nutpie`` or ``pymc``.
    seed : int
        Seed of the sampler.
    data_fingerprint : str
        sha256 of ``data`` (see :func:`data_fingerprint`).
    versions : dict
        Software versions.
    settings : dict
        Sampling and model settings (draws, tune, chains, target_accept, parameterization,
        covariates, ...).
    """

    idata: xr.DataTree
    family: str
    measure: str
    data: pd.DataFrame
    model: Any
    priors: dict[str, Any]
    sampler: str
    seed: int
    data_fingerprint: str
    versions: dict[str, str]
    settings: dict[str, Any]
    refitter: Any = field(default=None, repr=False, compare=False)

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior group as a Dataset."""
        return self.idata["posterior"].to_dataset()

    def draws(self, var: str) -> xr.DataArray:
        """Posterior draws of ``var`` (dims chain, draw, ...)."""
        post = self.idata["posterior"]
        if var not in post.data_vars:
            raise ModelError(f"{var!r} is not a posterior variable of this {self.family} fit; "
                             f"it has {sorted(post.data_vars)}")
        return post[var]

    def default_var_names(self) -> list[str]:
        """Posterior variables reported by default (auxiliary offsets ``*_z`` left out)."""
        return [v for v in self.idata["posterior"].data_vars if not v.endswith("_z")]

    def summary(self, var_names: list[str] | None = None, scale: str = "model",
                hdi_prob: float = 0.95) -> pd.DataFrame:
        """Posterior summary table, one row per scalar quantity.

        Parameters
        ----------
        var_names : list of str, optional
            Variables to summarize (default: all but non-centered offsets).
        scale : {"model", "natural"}
            ``natural`` transforms the location variables (mu, theta, theta_new, mu_disease,
            theta_new_disease, mu_new_disease, theta_new_design) with the measure's natural-scale
            function before summarizing (e.g. odds ratios instead of log odds ratios). Heterogeneity SDs and ``beta`` stay on the
            model scale; rates ``p_*`` are already natural.
        hdi_prob : float
            Probability of the equal-tailed (``eti_low``, ``eti_high``) and highest-density
            (``hdi_low``, ``hdi_high``) intervals.

        Returns
        -------
        pandas.DataFrame
            Index ``name[coord]``; columns parameter, coord, mean, median, sd, eti_low, eti_high,
            hdi_low, hdi_high, ess_bulk, ess_tail, r_hat, mcse_mean.

        References
        ----------
        Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner PC. Rank-normalization, folding, and
        localization: an improved R-hat. Bayesian Analysis 2021;16(2):667-718.
        """
        from bayes_il2._arviz import arviz_stats  # imported on use: about a second (scipy.stats)

        az = arviz_stats()

        if scale not in SCALES:
            raise ModelError(f"scale must be one of {SCALES}; got {scale!r}")
        if not 0 < hdi_prob < 1:
            raise ModelError(f"hdi_prob must lie in (0, 1); got {hdi_prob}")
        names = self.default_var_names() if var_names is None else list(var_names)
        for name in names:
            self.draws(name)
        post = self.idata["posterior"].to_dataset()[names]
        if scale == "natural" and not self.measure:
            warnings.warn("summary(scale='natural'): this fit has no measure, so the table stays on the model "
                          "scale; pass measure='OR' (or the table's code) to meta_analysis, or a 'measure' column "
                          "in the table, to back-transform", UserWarning, stacklevel=2)
        if scale == "natural" and self.measure:
            fn = natural_scale(self.measure)
            post = post.assign({v: xr.apply_ufunc(fn, post[v]) for v in names if v in LOCATION_VARS})
        low_q, high_q = (1 - hdi_prob) / 2, 1 - (1 - hdi_prob) / 2
        stats = {
            "mean": post.mean(("chain", "draw")),
            "median": post.median(("chain", "draw")),
            "sd": post.std(("chain", "draw"), ddof=1),
            "eti_low": post.quantile(low_q, ("chain", "draw")).drop_vars("quantile"),
            "eti_high": post.quantile(high_q, ("chain", "draw")).drop_vars("quantile"),
        }
        hdi = az.hdi(post, prob=hdi_prob)
        stats["hdi_low"] = hdi.sel(ci_bound="lower").drop_vars("ci_bound")
        stats["hdi_high"] = hdi.sel(ci_bound="upper").drop_vars("ci_bound")
        stats.update(draw_diagnostics(post, ("ess_bulk", "ess_tail", "r_hat", "mcse_mean")))
        rows = []
        for name in names:
            da = stats["mean"][name]
            dims = list(da.dims)
            # every statistic as an array in the dims order of the mean (indexing, not .sel per element)
            arrays = {col: np.asarray(ds[name].transpose(*dims).values) for col, ds in stats.items()}
            for idx in np.ndindex(*da.shape):
                sel = {d: da[d].values[i] for d, i in zip(dims, idx)}
                row = {"parameter": name, "coord": ",".join(str(v) for v in sel.values())}
                for col, values in arrays.items():
                    row[col] = float(values[idx])
                rows.append((_label(name, sel), row))
        table = pd.DataFrame([r for _, r in rows], index=[lab for lab, _ in rows])
        table.index.name = "label"
        return table

    # ------------------------------------------------------------------ persistence
    def metadata(self) -> dict[str, Any]:
        """Family, measure, sampler, seed, data fingerprint, software versions, settings and priors
        (JSON-ready; what :meth:`to_netcdf` stores besides the data table)."""
        return {"family": self.family, "measure": self.measure, "sampler": self.sampler,
                "seed": int(self.seed), "data_fingerprint": self.data_fingerprint,
                "versions": self.versions, "settings": _jsonable(self.settings),
                "priors": {k: _prior_to_json(v) for k, v in self.priors.items()}}

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the DataTree with the metadata as JSON in the root attributes.

        The PyMC model is not stored; :meth:`load` returns a Fit with ``model=None``. Priors of
        ``bayes_il2.priors`` are stored as their spec tables (``to_dict``) and rebuilt on load;
        other prior objects (e.g. the Treg model's ``BetaR``) come back as their repr strings.
        """
        path = Path(path)
        tree = self.idata.copy()
        meta = {**self.metadata(),
                "data": self.data.to_json(orient="table", index=False, double_precision=15)}
        tree.attrs = {**tree.attrs, "bayes_il2_fit": json.dumps(meta)}
        with _no_distributed_probe(tree):
            tree.to_netcdf(path, engine="netcdf4")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Fit:
        """Read a Fit written by :meth:`to_netcdf`."""
        tree = xr.open_datatree(path).load()
        if tree.attrs.get("bayes_il2_fit") is None:
            raise ModelError(f"{path}: no bayes_il2 fit metadata (attribute 'bayes_il2_fit') in this file")
        return cls.from_datatree(tree)

    @classmethod
    def from_datatree(cls, tree: xr.DataTree) -> Fit:
        """A Fit from a DataTree that carries the metadata :meth:`to_netcdf` stores (``bayes_il2_fit``)."""
        import io

        raw = tree.attrs.get("bayes_il2_fit")
        if raw is None:
            raise ModelError("this DataTree carries no bayes_il2 fit metadata (attribute 'bayes_il2_fit'); "
                             "pass the Fit itself, or a tree read from a posterior.nc written by bayes_il2")
        meta = json.loads(raw)
        data = pd.read_json(io.StringIO(meta["data"]), orient="table")
        tree = tree.copy()
        tree.attrs = {k: v for k, v in tree.attrs.items() if k != "bayes_il2_fit"}
        return cls(idata=tree, family=meta["family"], measure=meta["measure"], data=data, model=None,
                   priors={k: _prior_from_json(v) for k, v in meta["priors"].items()}, sampler=meta["sampler"], seed=int(meta["seed"]),
                   data_fingerprint=meta["data_fingerprint"], versions=meta["versions"],
                   settings=meta["settings"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _prior_to_json(prior: Any) -> Any:
    to_dict = getattr(prior, "to_dict", None)
    if callable(to_dict):
        try:
            return {"spec": _jsonable(to_dict()), "repr": repr(prior)}
        except Exception:  # noqa: BLE001 - fall back to the readable form
            pass
    return repr(prior)


def _prior_from_json(value: Any) -> Any:
    if isinstance(value, dict) and "spec" in value:
        from bayes_il2.priors import prior_from_spec

        try:
            return prior_from_spec(value["spec"])
        except Exception:  # noqa: BLE001 - e.g. a family this version does not know
            return value.get("repr", str(value))
    return value


#: The Monte-Carlo diagnostics of :func:`draw_diagnostics`: name -> its arviz_stats call.
_DRAW_STATS = {
    "r_hat": lambda az, post: az.rhat(post),
    "ess_bulk": lambda az, post: az.ess(post, method="bulk"),
    "ess_tail": lambda az, post: az.ess(post, method="tail"),
    "mcse_mean": lambda az, post: az.mcse(post, method="mean"),
    "mcse_sd": lambda az, post: az.mcse(post, method="sd"),
    "mcse_q2.5": lambda az, post: az.mcse(post, method="quantile", prob=0.025),
    "mcse_q97.5": lambda az, post: az.mcse(post, method="quantile", prob=0.975),
}


def draw_diagnostics(post: xr.Dataset, names: Any = tuple(_DRAW_STATS)) -> dict[str, xr.Dataset]:
    """Rank-normalized R-hat, bulk/tail ESS and MCSE of the draws in ``post`` (arviz_stats).

    A quantity constant over all draws (a fixed parameter, a deterministic of constants) has no
    Monte-Carlo error and no chains to compare: its R-hat and ESS are NaN (undefined; ArviZ would
    divide 0 by 0 with a RuntimeWarning, and report an ESS equal to the number of draws) and its
    MCSE 0. Every other element is ArviZ's value unchanged.

    Parameters
    ----------
    post : Dataset
        Variables with dims (chain, draw, ...).
    names : iterable of str
        Keys of :data:`_DRAW_STATS` (default all).

    References
    ----------
    Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner P-C (2021). Rank-normalization, folding, and
    localization: an improved R-hat for assessing convergence of MCMC. Bayesian Analysis 16(2):667-718.
    """
    from bayes_il2._arviz import arviz_stats  # imported on use: about a second (scipy.stats)

    az = arviz_stats()

    constant = post.max(("chain", "draw")) == post.min(("chain", "draw"))
    out = {}
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 for the constant elements, replaced below
        for name in names:
            value = _DRAW_STATS[name](az, post)
            out[name] = value.where(~constant, 0.0 if name.startswith("mcse") else np.nan)
    return out


@contextlib.contextmanager
def _no_distributed_probe(tree: xr.DataTree):
    """Write ``tree`` without xarray importing ``dask.distributed`` to ask for the active scheduler.

    xarray asks dask which scheduler runs (to pick a file lock and to close files between chunked
    writes) by importing ``dask.distributed``, about 0.3 s of CPU in a process that never used it.
    When that module is not imported no distributed client can exist, and a tree of in-memory
    arrays is written by this thread alone: the answer is "no scheduler" (a threading lock). In
    any other case, or should xarray rename these functions, xarray asks as before.
    """
    from xarray.backends import locks, writers

    chunked = any(v.chunks is not None for node in tree.subtree for v in node.variables.values())
    if ("distributed" in sys.modules or chunked or not hasattr(locks, "get_dask_scheduler")
            or not hasattr(writers, "get_dask_scheduler")):
        yield
        return
    originals = locks.get_dask_scheduler, writers.get_dask_scheduler

    def no_scheduler(get=None, collection=None):
        return None

    locks.get_dask_scheduler = writers.get_dask_scheduler = no_scheduler
    try:
        yield
    finally:
        locks.get_dask_scheduler, writers.get_dask_scheduler = originals

