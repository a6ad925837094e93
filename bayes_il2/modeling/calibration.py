"""Simulation-based calibration (SBC) of a built model (Talts, Betancourt, Simpson, Vehtari &
Gelman 2018, arXiv:1804.06788; Modrák et al. 2023, Bayesian Analysis).

Parameters and data sets are drawn from the model's prior predictive distribution; each data set is
fitted with the *same compiled* sampler (only the data containers change), and the rank of each
true parameter among thinned posterior draws is recorded. For a correct sampler and model code the
ranks are uniform on {0, ..., L}; :func:`rank_uniformity_pvalue` tests that with a chi-square test
on equal-width bins.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pymc as pm
from scipy import stats

from bayes_il2.errors import ModelError
from bayes_il2.inference import CompiledSampler
from bayes_il2.modeling._common import BuiltModel
from bayes_il2.runner import Chunk, run_chunks, split


def observed_containers(built: BuiltModel) -> dict[str, str]:
    """Map each observed variable of the model to the data container holding its values."""
    model = built.model
    out = {}
    data_names = {v.name for v in model.data_vars}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        while value.name not in data_names and value.owner is not None and len(value.owner.inputs) == 1:
            value = value.owner.inputs[0]  # PyMC may cast the container (e.g. to int64)
        if value.name not in data_names:
            raise ModelError(f"observed variable {rv.name!r} is not backed by a pm.Data container")
        out[rv.name] = value.name
    return out


def simulation_based_calibration(built: BuiltModel, var_names: Sequence[str], *, replications: int = 40,
                                 draws: int = 200, tune: int = 200, chains: int = 2, thin: int = 4,
                                 seed: int = 1, sampler: str = "nutpie", target_accept: float = 0.9,
                                 compiled: CompiledSampler | None = None, chunk_size: int = 10,
                                 prior_model: pm.Model | None = None) -> pd.DataFrame:
    """Ranks of the true (prior-drawn) values among posterior draws, one row per replication.

    Parameters
    ----------
    built : BuiltModel
    var_names : list of str
        Posterior variables to rank (e.g. ``["mu", "tau"]``); a variable with dimensions is ranked
        element by element, in columns ``name[0]``, ``name[1]``, ... (flattened order).
    replications : int
    draws, tune, chains : int
        Sampler settings per replication.
    thin : int
        Keep every ``thin``-th draw (reduces autocorrelation, so ranks are closer to independent).
    seed : int
    sampler : {"nutpie", "pymc"}
    target_accept : float
        NUTS target acceptance rate per replication. Prior draws include extreme heterogeneity
        (funnels), so models fitted with a high value in practice should be calibrated with it too.
    compiled : CompiledSampler, optional
        An already compiled sampler of ``built.model`` (e.g. ``fit.refitter.compiled``) to reuse;
        by default one is compiled once for all replications.
    chunk_size : int
        Replications per chunk of :func:`bayes_il2.runner.run_chunks` (the loop shared
        with simulation studies); the ranks do not depend on it.
    prior_model : pm.Model, optional
        Draw the true values and data sets from this model's prior predictive distribution instead
        of ``built.model``'s: the generative form of a model whose fitted form recovers a variable
        from the data (e.g. ``build_exnex_rate(..., simulate=True)``). Same variable and observed names.

    Returns
    -------
    DataFrame
        Columns: one per variable (rank in 0..L) and ``divergences``; ``attrs["max_rank"]`` is L.
    """
    containers = observed_containers(built)
    with warnings.catch_warnings():
        # The only Potential is the leave-out term, zero at the default weights of 1
        warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
        prior = pm.sample_prior_predictive(draws=replications, model=prior_model or built.model, random_seed=seed,
                                           var_names=[*var_names, *containers])
    truth = prior["prior"].to_dataset()
    simulated = prior["prior_predictive"].to_dataset()
    if compiled is None:
        compiled = CompiledSampler(built.model, sampler)
    elif compiled.model is not built.model:
        raise ModelError("simulation_based_calibration: the compiled sampler belongs to another model")
    truths = {}
    for var in var_names:
        values = np.asarray(truth[var].isel(chain=0))
        if values.ndim == 1:
            truths[var] = values
        else:
            flat = values.reshape(values.shape[0], -1)
            truths.update({f"{var}[{j}]": flat[:, j] for j in range(flat.shape[1])})
    datasets = {containers[name]: np.asarray(simulated[name].isel(chain=0)) for name in containers}
    settings = {"draws": draws, "tune": tune, "chains": chains, "thin": thin, "seed": seed,
                "target_accept": target_accept}
    chunks = [Chunk(key=f"sbc{start:06d}", start=start, stop=stop)
              for start, stop in split(replications, max(1, chunk_size))]
    work = functools.partial(_sbc_chunk, compiled, list(truths), truths, datasets, settings)
    table = run_chunks(chunks, work)  # the loop shared with simulation studies
    table.attrs["max_rank"] = chains * len(range(0, draws, thin))
    return table


def _sbc_chunk(compiled: CompiledSampler, var_names: list[str], truths: dict[str, np.ndarray],
               datasets: dict[str, np.ndarray], settings: dict, chunk: Chunk) -> pd.DataFrame:
    """Ranks of replications ``chunk.start`` to ``chunk.stop - 1`` (replication r uses seed + 1 + r)."""
    chains, thin = settings["chains"], settings["thin"]
    rows = []
    for rep in range(chunk.start, chunk.stop):
        data = {name: values[rep] for name, values in datasets.items()}
        idata = compiled.sample(data, draws=settings["draws"], tune=settings["tune"], chains=chains,
                                seed=settings["seed"] + 1 + rep, target_accept=settings["target_accept"])
        post = idata["posterior"]
        row = {}
        for var in var_names:
            name, _, element = var.partition("[")
            draws = np.asarray(post[name]).reshape(chains, settings["draws"], -1)
            sample = draws[:, ::thin, int(element[:-1]) if element else 0].ravel()
            row[var] = int((sample < float(truths[var][rep])).sum())
        row["divergences"] = int(np.asarray(idata["sample_stats"]["diverging"]).sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=[*var_names, "divergences"])


def rank_uniformity_pvalue(ranks: Sequence[int], max_rank: int, bins: int = 5) -> float:
    """Chi-square p-value for ranks uniform on {0, ..., max_rank}, pooled into ``bins`` bins."""
    ranks = np.asarray(ranks)
    which = np.floor(np.arange(max_rank + 1) * bins / (max_rank + 1)).astype(int)  # bin of each rank
    counts = np.bincount(which[ranks], minlength=bins)
    expected = np.bincount(which, minlength=bins) / (max_rank + 1) * ranks.size
    return float(stats.chisquare(counts, expected).pvalue)
