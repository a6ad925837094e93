"""Benefit and harm together: a decision table for randomized trials with a responder endpoint and
adverse-event counts (``decision_table.csv`` of the trial reanalysis).

For each trial the primary responder endpoint (:func:`~bayes_il2.reanalysis.map_prior.primary_responder`)
and each harm endpoint (:data:`HARM_OUTCOMES`: infection, serious infection, serious and severe AEs)
get exact grid posteriors of the log odds ratio and of the risk difference
(:func:`~bayes_il2.reanalysis.posterior.binary_posterior`; no MCMC). The benefit is taken under each
prior of the community (reusing the reanalysis's own posteriors, MAP priors included, where the
trial was reanalysed); the harms under the neutral prior N(0, 4^2) on the log OR (weakly informative,
the unit-information prior). Harm criteria: "OR < 1" (fewer events under LD-IL-2) and "RD < x"
(no excess risk larger than x, for each margin in :data:`RD_MARGINS`).

Joint probabilities. The registry holds arm totals, not patients, so how benefit and harm co-occur
in a patient is unknown and the two contrasts are modelled separately (independent priors and
likelihoods, as the trial reports them). Their posteriors are then independent, and
P(benefit and harm criterion) = P(benefit) P(criterion) (column ``p_joint``). Because the patient-level
dependence is not identified, the table also gives the Fréchet bounds that hold under *any*
dependence, max(0, P(A) + P(B) - 1) <= P(A and B) <= min(P(A), P(B)) (``p_joint_low``,
``p_joint_high``; Fréchet 1951). The row "all harms" takes every harm endpoint of the trial at once
(product, and bounds max(0, sum - (m - 1)) to min).

A harm endpoint without events in either arm does not inform its odds ratio (the OR posterior is then
its prior, flagged ``harm_or_informed = False``) but does inform the risk difference.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayes_il2.reanalysis.endpoints import BinaryEndpoint
from bayes_il2.reanalysis.map_prior import primary_responder, two_arm_events
from bayes_il2.reanalysis.posterior import GridPosterior, binary_posterior
from bayes_il2.reanalysis.priors import build_priors, important_effect

HARM_OUTCOMES = ("infection", "serious_infection", "serious_ae", "severe_ae")
RD_MARGINS = (0.0, 0.05, 0.10)
BENEFIT_PRIORS = ("skeptical", "neutral", "enthusiastic")
HARM_PRIOR = "neutral"
COLUMNS = ["study_id", "disease", "benefit_endpoint", "benefit_data", "benefit_prior", "p_benefit",
           "important_or", "p_important_benefit", "harm_endpoint", "harm_data", "harm_prior", "criterion",
           "p_harm_criterion", "p_joint", "p_joint_low", "p_joint_high", "harm_or_informed", "joint_rule"]
JOINT_RULE = ("p_joint: independent posteriors (arm totals only); bounds: Fréchet, any dependence between "
              "benefit and harm")


def p_rd_below(post: GridPosterior, x: float) -> float:
    """Posterior P(risk difference < x) from the grid (treated minus control)."""
    return float(post.rd_cdf(x))


def frechet(probabilities: Sequence[float]) -> tuple[float, float]:
    """Bounds on P(all events) given the marginal probabilities, whatever their dependence."""
    p = np.asarray(probabilities, dtype=float)
    return float(max(0.0, p.sum() - (p.size - 1))), float(p.min())


def _label(outcome: str, week) -> str:
    return outcome if week is None or (isinstance(week, float) and math.isnan(week)) else f"{outcome}_w{int(week)}"


Labelled = tuple[str, BinaryEndpoint]


def trial_endpoints(registry, study_id: str) -> tuple[Labelled | None, list[Labelled]]:
    """The trial's primary responder endpoint and its harm endpoints (latest week of each outcome)."""
    table = two_arm_events(registry, study_id)
    if table.empty:
        return None, []
    primary = primary_responder(table)
    benefit = None
    if primary is not None:
        label = _label(primary["outcome"], primary["week"])
        benefit = (label, BinaryEndpoint(events_t=int(primary["events_t"]), n_t=int(primary["n_t"]),
                                         events_c=int(primary["events_c"]), n_c=int(primary["n_c"]),
                                         name=label, higher_is_better=True))
    harms = []
    for outcome in HARM_OUTCOMES:
        rows = table[table["outcome"] == outcome]
        if rows.empty:
            continue
        row = rows.assign(_w=rows["week"].astype(float).fillna(np.inf)).sort_values("_w").iloc[-1]
        label = _label(outcome, row["week"])
        harms.append((label, BinaryEndpoint(events_t=int(row["events_t"]), n_t=int(row["n_t"]),
                                            events_c=int(row["events_c"]), n_c=int(row["n_c"]),
                                            name=label, higher_is_better=False)))
    return benefit, harms


def eligible_trials(registry) -> list[str]:
    """Randomized trials (pool = yes) with a responder endpoint and at least one harm endpoint."""
    studies = registry.studies
    rct = studies[(studies["design"] == "rct") & (studies["pool"].astype(str) == "yes")]
    out = []
    for sid in rct["study_id"].astype(str):
        benefit, harms = trial_endpoints(registry, sid)
        if benefit is not None and harms:
            out.append(sid)
    return out


def decision_table(registry, study_ids: Sequence[str] | None = None, *,
                   benefit_priors: Sequence[str] = BENEFIT_PRIORS, clinically_important_or: float = 2.0,
                   margins: Sequence[float] = RD_MARGINS,
                   reused: Mapping[str, Mapping[str, object]] | None = None) -> pd.DataFrame:
    """The benefit-harm decision table (see the module docstring).

    Parameters
    ----------
    registry : Registry
    study_ids : sequence of str, optional
        Trials to include (default: :func:`eligible_trials`); a trial without a responder or harm
        endpoint is skipped.
    benefit_priors : sequence of str
        Built-in priors for the benefit endpoint of trials not in ``reused``.
    clinically_important_or : float
        For P(OR > this) on the benefit endpoint.
    margins : sequence of float
        Risk-difference margins of the "no excess harm" criteria.
    reused : mapping study_id -> {endpoint label -> EndpointReanalysis}, optional
        Posteriors already computed by the trial's reanalysis (all its priors, MAP included).

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`, one row per (trial, benefit prior, harm endpoint or "all harms",
        criterion).
    """
    studies = registry.studies.set_index(registry.studies["study_id"].astype(str))
    ids = list(study_ids) if study_ids is not None else eligible_trials(registry)
    rows = []
    for sid in ids:
        benefit, harms = trial_endpoints(registry, sid)
        if benefit is None or not harms:
            continue
        label, endpoint = benefit
        done = (reused or {}).get(sid, {}).get(label)
        if done is not None:
            benefit_posts = dict(done.posteriors)
        else:
            priors = build_priors(endpoint, list(benefit_priors), clinically_important_or=clinically_important_or)
            # the benefit is read on the log odds ratio only: no risk-difference arrays kept
            benefit_posts = {name: binary_posterior(endpoint, prior).without_rd_arrays()
                             for name, prior in priors.items()}
        important = important_effect(endpoint, clinically_important_or)
        harm_posts = {}
        for h_label, h_end in harms:
            prior = build_priors(h_end, [HARM_PRIOR])[HARM_PRIOR]
            harm_posts[h_label] = (h_end, binary_posterior(h_end, prior))
        criteria = [("OR < 1", lambda post: float(post.cdf(0.0)))]
        criteria += [(f"RD < {m:+.0%}".replace("+0%", "0"), (lambda m: lambda post: p_rd_below(post, m))(m))
                     for m in margins]
        disease = str(studies.loc[sid, "disease"]) if sid in studies.index else ""
        for prior_name, bpost in benefit_posts.items():
            p_b = float(bpost.sf(0.0))
            p_imp = float(bpost.sf(important))
            base = {"study_id": sid, "disease": disease, "benefit_endpoint": label,
                    "benefit_data": endpoint.describe(), "benefit_prior": prior_name, "p_benefit": p_b,
                    "important_or": clinically_important_or, "p_important_benefit": p_imp,
                    "harm_prior": HARM_PRIOR, "joint_rule": JOINT_RULE}
            for criterion, prob in criteria:
                marginals = []
                for h_label, (h_end, hpost) in harm_posts.items():
                    p_h = prob(hpost)
                    marginals.append(p_h)
                    low, high = frechet([p_b, p_h])
                    informed = not ((h_end.events_t == 0 and h_end.events_c == 0)
                                    or (h_end.events_t == h_end.n_t and h_end.events_c == h_end.n_c))
                    rows.append({**base, "harm_endpoint": h_label, "harm_data": h_end.describe(),
                                 "criterion": criterion, "p_harm_criterion": p_h, "p_joint": p_b * p_h,
                                 "p_joint_low": low, "p_joint_high": high, "harm_or_informed": informed})
                if len(marginals) > 1:
                    low, high = frechet([p_b, *marginals])
                    rows.append({**base, "harm_endpoint": "all harms (" + ", ".join(harm_posts) + ")",
                                 "harm_data": "", "criterion": criterion,
                                 "p_harm_criterion": float(np.prod(marginals)),
                                 "p_joint": p_b * float(np.prod(marginals)), "p_joint_low": low,
                                 "p_joint_high": high, "harm_or_informed": True})
    return pd.DataFrame(rows, columns=COLUMNS)


def decision_summary(table: pd.DataFrame, criterion: str = "RD < +5%") -> list[str]:
    """One sentence per trial: P(benefit and the harm criterion on every harm endpoint) across the priors."""
    lines = []
    for sid, rows in table.groupby("study_id", sort=False):
        rows = rows[rows["criterion"] == criterion]
        every = rows[rows["harm_endpoint"].str.startswith("all harms")]
        rows = every if len(every) else rows
        if rows.empty:
            continue
        lo, hi = rows.loc[rows["p_joint"].idxmin()], rows.loc[rows["p_joint"].idxmax()]
        lines.append(f"{sid}: P({lo['benefit_endpoint']} OR > 1 and {criterion.replace('RD', 'risk difference')} on "
                     f"{'every harm' if len(every) else lo['harm_endpoint']}) from {lo['p_joint']:.3f} "
                     f"({lo['benefit_prior']}) to {hi['p_joint']:.3f} ({hi['benefit_prior']}); any dependence: "
                     f"{rows['p_joint_low'].min():.3f} to {rows['p_joint_high'].max():.3f}")
    return lines
