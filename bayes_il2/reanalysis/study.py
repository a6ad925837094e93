"""Reanalysis of every two-arm endpoint a registry study holds (``reanalyze_study``).

Endpoints taken:

- events.csv: each (outcome, week) with one LD-IL-2 arm and one placebo/control arm; exact binomial
  likelihood. ``responder_*`` outcomes: more events = benefit; every other event outcome (infection,
  adverse events) is a harm: fewer events = benefit (the sign of the benefit is reversed).
  Endpoints without events in either arm (or with events in every patient of both arms) carry no
  information on the odds ratio and are listed in ``excluded``.
- contrasts.csv: MD (or SMD) rows between an LD-IL-2 arm and a control arm with a CI (or an SE);
  normal likelihood, SE from the CI. Lower is better for clinical scores and symptoms (VAS,
  ESSDAI, SLEDAI, ...); higher is better for Treg outcomes (``treg_*``). The clinically important
  difference is ``mcid`` for VAS outcomes (``vas_*``) and unknown otherwise, in which case only the
  priors that do not need it are used.

Endpoint labels are ``<outcome>_w<week>`` (``<outcome>`` when the week is blank).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.errors import ModelError
from bayes_il2.reanalysis.analysis import EndpointReanalysis, format_probability, p_beyond, reanalyze_endpoint
from bayes_il2.reanalysis.endpoints import BinaryEndpoint, ContinuousEndpoint, Endpoint
from bayes_il2.reanalysis.posterior import flat_is_improper
from bayes_il2.reanalysis.map_prior import CONTROLS, TREATED, MapPrior, fit_map, map_table, two_arm_events

NEEDS_IMPORTANT = ("skeptical", "enthusiastic")
NEEDS_MAP = ("map", "map_robust")
HIGHER_IS_BETTER_PREFIXES = ("treg_", "responder_")


@dataclass(frozen=True, eq=False)
class ReanalysisResult:
    """The reanalysis of one study: per endpoint the table, the data used, figures and a headline."""

    study_id: str
    analyses: dict[str, EndpointReanalysis]
    data: dict[str, pd.DataFrame]
    excluded: pd.DataFrame
    map_prior: MapPrior | None = None
    notes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoints(self) -> list[str]:
        return list(self.analyses)

    def _get(self, endpoint: str) -> EndpointReanalysis:
        if endpoint not in self.analyses:
            raise ModelError(f"{self.study_id}: no endpoint {endpoint!r}; endpoints: {', '.join(self.analyses)}")
        return self.analyses[endpoint]

    def tables(self) -> dict[str, pd.DataFrame]:
        """One table per endpoint (rows = priors; columns :data:`bayes_il2.reanalysis.COLUMNS`)."""
        return {name: a.table.assign(study_id=self.study_id) for name, a in self.analyses.items()}

    def endpoint_table(self, endpoint: str) -> pd.DataFrame:
        """The registry rows (or derived values) the endpoint was built from."""
        self._get(endpoint)
        return self.data[endpoint]

    def analysis(self, endpoint: str) -> EndpointReanalysis:
        """The reanalysis of one endpoint (what :func:`bayes_il2.plots.reanalysis_figures` draws)."""
        return self._get(endpoint)

    def headline(self, endpoint: str) -> str:
        return headline(self._get(endpoint))


def headline(analysis: EndpointReanalysis) -> str:
    """One sentence: the data, and P(benefit) and P(important benefit) across the priors."""
    e, t = analysis.endpoint, analysis.table
    binary = isinstance(e, BinaryEndpoint)
    sym = ">" if e.benefit_sign > 0 else "<"
    what = "OR" if binary else "MD"
    parts = [f"{e.name} ({e.describe()}):"]
    lo, hi = t["p_benefit"].idxmin(), t["p_benefit"].idxmax()
    fp = format_probability
    parts.append(f"P({what} {sym} {1 if binary else 0}) from {fp(t.loc[lo, 'p_benefit'])} ({t.loc[lo, 'prior']}) "
                 f"to {fp(t.loc[hi, 'p_benefit'])} ({t.loc[hi, 'prior']})")
    if analysis.important is not None and t["p_important"].notna().any():
        value = float(t["important_value"].iloc[0])
        lo, hi = t["p_important"].idxmin(), t["p_important"].idxmax()
        parts.append(f"; P({what} {sym} {value:g}) from {fp(t.loc[lo, 'p_important'])} ({t.loc[lo, 'prior']}) "
                     f"to {fp(t.loc[hi, 'p_important'])} ({t.loc[hi, 'prior']})")
    conflicts = t.loc[t["conflict"], "prior"].tolist()
    if conflicts:
        parts.append(f"; prior-data conflict (p < 0.05) with: {', '.join(conflicts)}")
    return " ".join(parts[:2]) + "".join(parts[2:])


def _label(outcome: str, week: Any) -> str:
    return outcome if week is None or (isinstance(week, float) and np.isnan(week)) else f"{outcome}_w{int(week)}"


def binary_endpoints(registry, study_id: str) -> tuple[dict[str, tuple[BinaryEndpoint, pd.DataFrame]], list[dict]]:
    """Binary endpoints of a study and the rows excluded (no information on the odds ratio)."""
    table = two_arm_events(registry, study_id)
    out, excluded = {}, []
    for row in table.itertuples(index=False):
        label = _label(row.outcome, row.week)
        no_info = (row.events_t == 0 and row.events_c == 0) or (row.events_t == row.n_t and row.events_c == row.n_c)
        if no_info:
            excluded.append({"study_id": study_id, "endpoint": label,
                             "reason": "no events (or all patients with events) in both arms: the odds ratio "
                                       "is not informed by the data"})
            continue
        endpoint = BinaryEndpoint(events_t=row.events_t, n_t=row.n_t, events_c=row.events_c, n_c=row.n_c,
                                  name=label, higher_is_better=row.outcome.startswith("responder_"))
        lines = [row.line_t, row.line_c]
        data = registry.events.loc[lines].assign(file="events.csv", line=lines)
        out[label] = (endpoint, data.reset_index(drop=True))
    return out, excluded


def continuous_endpoints(registry, study_id: str
                         ) -> tuple[dict[str, tuple[ContinuousEndpoint, pd.DataFrame]], list[dict]]:
    """Mean-difference endpoints (contrasts.csv) of a study, oriented LD-IL-2 minus control."""
    arms = registry.arms[registry.arms["study_id"] == study_id]
    treatment = dict(zip(arms["arm_id"], arms["treatment"]))
    con = registry.contrasts[(registry.contrasts["study_id"] == study_id)
                             & registry.contrasts["measure"].isin(["MD", "SMD"])]
    out, excluded = {}, []
    for line, row in con.iterrows():
        ta, tb = treatment.get(row["arm_a"]), treatment.get(row["arm_b"])
        if ta in TREATED and tb in CONTROLS:
            sign, n_t, n_c = 1.0, row["n_a"], row["n_b"]
        elif tb in TREATED and ta in CONTROLS:
            sign, n_t, n_c = -1.0, row["n_b"], row["n_a"]
        else:
            continue
        label = _label(row["outcome"], row["week"])
        if row["measure"] == "SMD":
            label += "_smd"
        level = float(row["ci_level"]) if pd.notna(row["ci_level"]) else 95.0
        level = level / 100 if level > 1 else level
        est = float(row["estimate"]) if pd.notna(row["estimate"]) else np.nan
        if pd.notna(row["ci_low"]) and pd.notna(row["ci_high"]) and np.isfinite(est):
            low, high = float(row["ci_low"]), float(row["ci_high"])
        elif pd.notna(row.get("se")) and np.isfinite(est):
            from scipy import stats

            z = stats.norm.ppf(0.5 + level / 2)
            low, high = est - z * float(row["se"]), est + z * float(row["se"])
        else:
            excluded.append({"study_id": study_id, "endpoint": label,
                             "reason": "contrast without estimate and CI or SE"})
            continue
        if sign < 0:
            est, low, high = -est, -high, -low
        endpoint = ContinuousEndpoint(estimate=est, ci_low=low, ci_high=high, ci_level=level, name=label,
                                      lower_is_better=not str(row["outcome"]).startswith(HIGHER_IS_BETTER_PREFIXES),
                                      n_t=int(n_t) if pd.notna(n_t) else None, n_c=int(n_c) if pd.notna(n_c) else None)
        data = registry.contrasts.loc[[line]].assign(file="contrasts.csv", line=[line])
        out[label] = (endpoint, data.reset_index(drop=True))
    return out, excluded


def reanalyze_study(registry, study_id: str, spec=None, priors: list[str] | tuple[str, ...] | None = None,
                    clinically_important_or: float | None = None, mcid: float | None = None, *,
                    robust_weight: float | None = None, map_studies: list[str] | tuple[str, ...] | None = None,
                    map_options: dict[str, Any] | None = None, map_prior: MapPrior | None = None) -> ReanalysisResult:
    """Bayesian reanalysis of every two-arm endpoint of a registry study.

    Parameters
    ----------
    registry : bayes_il2.evidence.Registry
        (Or any object with DataFrames ``studies``, ``arms``, ``events``, ``contrasts`` indexed by line.)
    study_id : str
    spec : bayes_il2.specs.ReanalysisSpec, optional
        Priors, clinically important values, robust weight and MAP studies; arguments given
        here override it.
    priors : list of str, optional
        Built-in prior names; ``skeptical``/``enthusiastic`` are skipped for endpoints without a
        clinically important value and ``map``/``map_robust`` for endpoints other than responder
        endpoints or when no MAP studies are given (each skip is recorded in ``notes``).
    clinically_important_or, mcid : float, optional
        Clinically important odds ratio (binary) and mean difference on VAS outcomes.
    robust_weight : float, optional
    map_studies : list of str, optional
        Registry study_ids of the historical trials for the MAP prior.
    map_options : dict, optional
        Passed to :func:`bayes_il2.reanalysis.map_prior.fit_map` (draws, chains, seed, tau_prior, ...).
    map_prior : MapPrior, optional
        A MAP prior fitted beforehand (then ``map_studies`` is not used).

    Returns
    -------
    ReanalysisResult

    Raises
    ------
    ModelError
        When the study is unknown or has no usable two-arm endpoint.
    """
    from bayes_il2.specs import ReanalysisSpec

    spec = spec or ReanalysisSpec()
    priors = tuple(priors) if priors is not None else tuple(spec.priors)
    or_important = clinically_important_or if clinically_important_or is not None else spec.clinically_important_or
    vas_mcid = mcid if mcid is not None else spec.mcid_vas
    weight = robust_weight if robust_weight is not None else spec.robust_weight
    map_ids = tuple(map_studies) if map_studies is not None else tuple(spec.map_studies)
    if study_id not in set(registry.studies["study_id"]):
        raise ModelError(f"study {study_id!r} is not in the registry (studies.csv)")

    binary, excl_b = binary_endpoints(registry, study_id)
    continuous, excl_c = continuous_endpoints(registry, study_id)
    endpoints: dict[str, tuple[Endpoint, pd.DataFrame]] = {**binary, **continuous}
    if not endpoints:
        raise ModelError(f"{study_id}: no two-arm endpoint (LD-IL-2 vs placebo/control) in events.csv or "
                         "contrasts.csv")
    notes: list[str] = []
    wants_map = any(p in NEEDS_MAP for p in priors)
    if wants_map and map_prior is None:
        if not map_ids:
            notes.append("MAP priors skipped: no map_studies given")
        else:
            table, map_notes = map_table(registry, [s for s in map_ids if s != study_id])
            notes.extend(map_notes)
            if len(table):
                map_prior = fit_map(table, **(map_options or {}))
            else:
                notes.append("MAP priors skipped: none of the map_studies has a responder endpoint")
    if map_prior is not None:
        notes.append(map_prior.describe())

    analyses: dict[str, EndpointReanalysis] = {}
    data: dict[str, pd.DataFrame] = {}
    skipped_map: list[str] = []
    for label, (endpoint, rows) in endpoints.items():
        mcid_here = vas_mcid if isinstance(endpoint, ContinuousEndpoint) and label.startswith("vas_") else None
        chosen = []
        for p in priors:
            if p == "flat" and isinstance(endpoint, BinaryEndpoint) and flat_is_improper(endpoint):
                notes.append(f"{label}: flat prior skipped (an arm with no events or only events makes it improper)")
            elif p in NEEDS_IMPORTANT and isinstance(endpoint, ContinuousEndpoint) and mcid_here is None:
                notes.append(f"{label}: {p} prior skipped (no clinically important difference known for it)")
            elif p in NEEDS_MAP and (map_prior is None or not label.startswith("responder_")):
                if map_prior is not None:
                    skipped_map.append(label)
            else:
                chosen.append(p)
        if not chosen:
            continue
        analysis = reanalyze_endpoint(endpoint, chosen, clinically_important_or=or_important, mcid=mcid_here,
                                      robust_weight=weight,
                                      map_prior=map_prior.mixture if map_prior is not None else None)
        if map_prior is not None:
            is_map = analysis.table["prior"].isin(NEEDS_MAP)
            mcmc = "; ".join(f"{k} {v:.3g}" for k, v in map_prior.convergence.items())
            analysis.table.loc[is_map, "prior_summary"] += (f" [from {map_prior.sources()}; endpoints differ"
                                                            + (f"; MCMC {mcmc}" if mcmc else "") + "]")
        analyses[label] = analysis
        data[label] = rows
    if skipped_map:
        notes.append("MAP priors (from responder endpoints) not used for: " + ", ".join(dict.fromkeys(skipped_map)))
    excluded = pd.DataFrame(excl_b + excl_c, columns=["study_id", "endpoint", "reason"])
    return ReanalysisResult(study_id=study_id, analyses=analyses, data=data, excluded=excluded,
                            map_prior=map_prior, notes=tuple(notes),
                            settings={"priors": priors, "clinically_important_or": or_important, "mcid_vas": vas_mcid,
                                      "robust_weight": weight, "map_studies": map_ids})


__all__ = ["ReanalysisResult", "binary_endpoints", "continuous_endpoints", "headline", "p_beyond",
           "reanalyze_study"]
