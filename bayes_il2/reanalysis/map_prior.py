"""Meta-analytic-predictive (MAP) prior for the log odds ratio of a new LD-IL-2 trial.

Steps (RBesT's gMAP -> automixfit -> robustify; Schmidli et al. 2014, Biometrics 70:1023-1032;
Weber et al. 2021, J Stat Softw 100(19)):

1. :func:`map_table`: one row per historical randomized trial, its primary responder endpoint
   (``responder_*`` in events.csv, LD-IL-2 vs placebo/control). The endpoints differ between trials
   (SLE: SRI-4; RA: ACR20; ...): the MAP prior assumes their log odds ratios are exchangeable,
   which is a judgement, and the table's ``outcome`` column says which endpoint each trial gave.
2. :func:`fit_map`: the binomial-normal hierarchical model (exact binomial likelihoods; design.md
   Model 4, :func:`bayes_il2.api.meta_analysis` with ``model="binomial_normal"``), whose
   ``theta_new`` draws are the predictive distribution of the log odds ratio in a new trial.
3. :func:`bayes_il2.reanalysis.mixture.automixfit`: a normal mixture fitted to the draws by EM.
4. :func:`bayes_il2.reanalysis.priors.robustify`: mixed with a vague component.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.errors import ModelError
from bayes_il2.reanalysis.mixture import NormalMixture, automixfit

TREATED = ("ld_il2",)
CONTROLS = ("placebo", "control")


@dataclass(frozen=True, eq=False)
class MapPrior:
    """A fitted MAP prior.

    Attributes
    ----------
    mixture : NormalMixture
        Normal-mixture approximation of the predictive distribution of a new trial's log OR.
    draws : ndarray
        The MCMC draws of ``theta_new`` it approximates.
    table : DataFrame
        The trials used (study_id, outcome, week, events_t, n_t, events_c, n_c).
    fit : Fit or None
        The hierarchical-model fit.
    """

    mixture: NormalMixture
    draws: np.ndarray
    table: pd.DataFrame
    fit: Any = None
    convergence: dict[str, float] = field(default_factory=dict)

    def sources(self) -> str:
        """The trials and endpoints used, e.g. ``He2020_ARD_RCT (responder_sri4, week 12)``."""
        def week(w: Any) -> str:
            return "week not stated" if pd.isna(w) else f"week {int(w)}"

        return ", ".join(f"{r.study_id} ({r.outcome}, {week(r.week)})" for r in self.table.itertuples())

    def describe(self) -> str:
        text = (f"MAP prior from {len(self.table)} trial(s): {self.sources()}; endpoints differ between trials "
                f"and are assumed exchangeable on the log-OR scale; mixture {self.mixture.describe()}")
        if self.convergence:
            text += "; MCMC: " + ", ".join(f"{k} {v:.3g}" for k, v in self.convergence.items())
        return text


def _arm_treatment(registry, study_id: str) -> dict[str, str]:
    arms = registry.arms[registry.arms["study_id"] == study_id]
    return dict(zip(arms["arm_id"], arms["treatment"]))


def two_arm_events(registry, study_id: str) -> pd.DataFrame:
    """Every event outcome of a study with one LD-IL-2 arm and one control arm, one row per (outcome, week).

    Returns
    -------
    DataFrame
        study_id, outcome, week, events_t, n_t, events_c, n_c, arm_t, arm_c, line_t, line_c, note_t,
        method_t, method_c (``line_*`` = the rows' lines in events.csv).
    """
    treatment = _arm_treatment(registry, study_id)
    ev = registry.events[registry.events["study_id"] == study_id].copy()
    ev["treatment"] = ev["arm_id"].map(treatment)
    ev["week"] = ev["week_end"]
    ev["line"] = ev.index
    rows = []
    for (outcome, week), group in ev.groupby(["outcome", "week"], dropna=False, sort=False):
        t = group[group["treatment"].isin(TREATED)]
        c = group[group["treatment"].isin(CONTROLS)]
        if len(t) != 1 or len(c) != 1:
            continue
        t, c = t.iloc[0], c.iloc[0]
        if pd.isna(t["events"]) or pd.isna(c["events"]) or pd.isna(t["n"]) or pd.isna(c["n"]):
            continue
        rows.append({"study_id": study_id, "outcome": outcome, "week": None if pd.isna(week) else int(week),
                     "events_t": int(t["events"]), "n_t": int(t["n"]), "events_c": int(c["events"]),
                     "n_c": int(c["n"]), "arm_t": t["arm_id"], "arm_c": c["arm_id"], "line_t": int(t["line"]),
                     "line_c": int(c["line"]), "note_t": t.get("note", ""), "method_t": t.get("method", ""),
                     "method_c": c.get("method", "")})
    return pd.DataFrame(rows, columns=["study_id", "outcome", "week", "events_t", "n_t", "events_c", "n_c",
                                       "arm_t", "arm_c", "line_t", "line_c", "note_t", "method_t", "method_c"])


def primary_responder(table: pd.DataFrame) -> pd.Series | None:
    """The primary responder endpoint of one study's two-arm event rows.

    Rule: among ``responder_*`` rows, those whose treated-arm note says "primary"; else the
    outcome with most rows (the trial's main response definition), earliest week; ties by file order.
    """
    resp = table[table["outcome"].str.startswith("responder_")]
    if resp.empty:
        return None
    primary = resp[resp["note_t"].fillna("").str.contains("primary", case=False)]
    if not primary.empty:
        return primary.sort_values("line_t").iloc[0]
    counts = resp["outcome"].value_counts()
    top = resp[resp["outcome"] == counts.index[0]]
    return top.sort_values(["week", "line_t"], na_position="last").iloc[0]


def map_table(registry, study_ids: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The historical trials' primary responder endpoints, and notes on trials left out."""
    rows, notes = [], []
    known = set(registry.studies["study_id"])
    for sid in study_ids:
        if sid not in known:
            notes.append(f"MAP: study {sid!r} is not in the registry; left out")
            continue
        row = primary_responder(two_arm_events(registry, sid))
        if row is None:
            notes.append(f"MAP: study {sid!r} has no two-arm responder endpoint; left out")
            continue
        rows.append(row)
    cols = ["study_id", "outcome", "week", "events_t", "n_t", "events_c", "n_c", "line_t", "line_c"]
    return pd.DataFrame(rows)[cols].reset_index(drop=True) if rows else pd.DataFrame(columns=cols), notes


def map_from_draws(draws: np.ndarray, k_max: int = 4) -> NormalMixture:
    """Normal-mixture approximation (AIC-chosen number of components) of predictive draws."""
    return automixfit(np.asarray(draws, dtype=float).ravel(), k_max=k_max, label="map")


def fit_map(table: pd.DataFrame, *, method: str = "mcmc", tau_prior: Any = None, mu_prior: Any = None,
            k_max: int = 4, draws: int = 2000, tune: int = 1000, chains: int = 4, seed: int = 20221110,
            sampler: str = "nutpie") -> MapPrior:
    """Fit the hierarchical model and approximate the predictive ``theta_new`` by a normal mixture.

    ``method="mcmc"`` (default): the binomial-normal model (exact binomial likelihoods) by NUTS.
    ``method="exact"``: the normal-normal hierarchical model on the trials' log odds ratios (Woolf
    variances, 0.5 added to every cell of a table with a zero cell) by numerical integration
    (:func:`bayes_il2.exact.nnhm`); its predictive distribution, a Gaussian mixture over the
    quadrature nodes, is sampled (``draws * chains`` draws) and compressed by :func:`automixfit`.

    Parameters
    ----------
    table : DataFrame
        study_id, events_t, n_t, events_c, n_c (see :func:`map_table`).
    tau_prior, mu_prior : bayes_il2.priors prior, optional
        Default: the modeling defaults (tau ~ half-normal(0.5), the routine choice for log odds
        ratios in Röver 2020 / Friede et al. 2017; mu ~ N(0, 10²)). With two or three trials the
        heterogeneity is informed mainly by its prior, so the MAP prior is only as sound as it.
    k_max : int
        Most mixture components tried.
    draws, tune, chains, seed, sampler
        MCMC settings (:func:`bayes_il2.inference.sample`).

    Returns
    -------
    MapPrior
    """
    if len(table) == 0:
        raise ModelError("fit_map: no historical trials to build a MAP prior from")
    if method == "exact":
        return _fit_map_exact(table, tau_prior=tau_prior, mu_prior=mu_prior, k_max=k_max,
                              n_draws=draws * chains, seed=seed)
    if method != "mcmc":
        raise ModelError(f"fit_map: method must be 'mcmc' or 'exact', got {method!r}")
    from bayes_il2.api import meta_analysis
    from bayes_il2.priors import HalfNormal, Normal

    # the documented MAP defaults (the same as the exact method's), not meta_analysis's data-scaled ones
    tau_prior = tau_prior if tau_prior is not None else HalfNormal(0.5)
    mu_prior = mu_prior if mu_prior is not None else Normal(0.0, 10.0)
    fit = meta_analysis(table[["study_id", "events_t", "n_t", "events_c", "n_c"]], model="binomial_normal",
                        tau_prior=tau_prior, mu_prior=mu_prior, draws=draws, tune=tune, chains=chains,
                        seed=seed, sampler=sampler)
    theta_new = np.asarray(fit.draws("theta_new")).ravel()
    return MapPrior(mixture=map_from_draws(theta_new, k_max), draws=theta_new, table=table, fit=fit,
                    convergence=_convergence(fit))


def _convergence(fit) -> dict[str, float]:
    """Max R-hat, min bulk ESS (of mu, tau, theta_new) and the number of divergent transitions."""
    out: dict[str, float] = {}
    try:
        summary = fit.summary(["mu", "tau", "theta_new"])
        out["max_r_hat"] = float(summary["r_hat"].max())
        out["min_ess_bulk"] = float(summary["ess_bulk"].min())
    except Exception:  # noqa: BLE001 - diagnostics are informative only
        pass
    stats_group = fit.idata.children.get("sample_stats") if hasattr(fit.idata, "children") else None
    if stats_group is not None and "diverging" in stats_group.data_vars:
        out["divergences"] = float(stats_group["diverging"].sum())
    return out


def log_odds_ratios(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Log odds ratios and Woolf variances (0.5 added to all cells of a table with a zero cell)."""
    cells = table[["events_t", "n_t", "events_c", "n_c"]].to_numpy(dtype=float)
    a, b = cells[:, 0], cells[:, 1] - cells[:, 0]
    c, d = cells[:, 2], cells[:, 3] - cells[:, 2]
    add = np.where(np.min(np.stack([a, b, c, d]), axis=0) == 0, 0.5, 0.0)
    a, b, c, d = a + add, b + add, c + add, d + add
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


def _fit_map_exact(table: pd.DataFrame, *, tau_prior: Any, mu_prior: Any, k_max: int, n_draws: int,
                   seed: int) -> MapPrior:
    from bayes_il2.exact import nnhm
    from bayes_il2.priors import HalfNormal, Normal

    yi, vi = log_odds_ratios(table)
    post = nnhm(yi, vi, tau_prior if tau_prior is not None else HalfNormal(0.5),
                mu_prior if mu_prior is not None else Normal(0.0, 10.0), labels=list(table["study_id"]))
    draws = np.asarray(post.theta_new.sample(np.random.default_rng(seed), n_draws), dtype=float)
    return MapPrior(mixture=map_from_draws(draws, k_max), draws=draws, table=table, fit=post,
                    convergence={})
