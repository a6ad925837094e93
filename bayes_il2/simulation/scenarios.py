"""Scenario cells and the data-generating process of a simulation study.

Every replicate draws k true study effects theta_i ~ N(mu, tau^2) and then each study's data:

- continuous, two-arm RCT (n patients split evenly): individual outcomes N(theta_i, 1) under
  treatment and N(0, 1) under control, so the standardized mean difference estimates theta_i;
  analysed as Hedges' g (:func:`bayes_il2.effects.continuous.standardized_mean_difference`).
- continuous, single-arm pre-post (a share ``design_mix`` of the studies): pre ~ N(0, 1),
  post = r pre + sqrt(1 - r^2) e + theta_i with the pre-post correlation r (``prepost_r``, assumed
  known by the analyst); analysed as the raw-score standardized mean change (SMCR, Becker 1988).
- binary, two-arm RCT: control events ~ Bin(n/2, p0), treated ~ Bin(n/2, expit(logit p0 + theta_i));
  log odds ratio with the 0.5 correction for single zero cells, double-zero studies dropped
  (:func:`bayes_il2.effects.binary.log_odds_ratio`).

Reporting degradation (continuous two-arm studies; a share ``degraded_fraction`` of the studies,
the first ones, at least one study keeps full reporting):

- ``bounds``: each arm reports median, minimum and maximum; mean and SD are recovered with
  Luo et al. (2018) and Wan et al. (2014) (:func:`~bayes_il2.effects.conversions.mean_sd_from_median_range`).
- ``missing_sd``: SDs are not reported; the mean of the SDs of the fully reported studies is imputed.
- ``pvalue_only``: the study reports the direction and the two-sided p-value of the two-sample
  t-test, rounded to three decimals (``p < 0.001`` when smaller, which the analyst uses as 0.001);
  t is recovered from p and g = J(df) t sqrt(1/n1 + 1/n2).

The estimand is mu (on the SMD or log-OR scale).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from bayes_il2.simulation.spec import SimulationSpec

CELL_COLUMNS = ("cell", "k", "tau", "n", "outcome", "design_mix", "reporting")


@dataclass(frozen=True)
class Scenario:
    """One cell of the scenario grid (its index fixes its seeds)."""

    cell: int
    k: int
    tau: float
    n: int
    outcome: str
    design_mix: float
    reporting: str
    mu: float
    degraded_fraction: float
    baseline_risk: float
    prepost_r: float

    def labels(self) -> dict[str, object]:
        """The cell's grid coordinates (the columns of the results table)."""
        return {c: getattr(self, c) for c in CELL_COLUMNS}


def scenarios(spec: SimulationSpec) -> list[Scenario]:
    """Every cell of the grid, in a fixed order (outcome, reporting, design mix, n, tau, k)."""
    g = spec.scenarios
    out = []
    for i, (outcome, reporting, mix, n, tau, k) in enumerate(
            itertools.product(g.outcome, g.reporting, g.design_mix, g.n, g.tau, g.k)):
        out.append(Scenario(cell=i, k=k, tau=tau, n=n, outcome=outcome, design_mix=mix, reporting=reporting,
                            mu=g.mu, degraded_fraction=g.degraded_fraction, baseline_risk=g.baseline_risk,
                            prepost_r=g.prepost_r))
    return out


def _arm_summary(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1))


def _p_value_reported(t: float, df: int) -> float:
    p = float(2 * stats.t.sf(abs(t), df))
    return max(round(p, 3), 0.001)


def simulate_effects(cell: Scenario, rng: np.random.Generator) -> pd.DataFrame:
    """One simulated meta-analysis: an effect table ``study_id, design, reporting, measure, yi, vi``.

    Studies whose effect is not estimable (double-zero binary studies) are left out, so the table
    may have fewer than ``cell.k`` rows.
    """
    from bayes_il2.effects._common import hedges_j
    from bayes_il2.effects.binary import log_odds_ratio
    from bayes_il2.effects.continuous import standardized_mean_difference
    from bayes_il2.effects.conversions import mean_sd_from_median_range
    from bayes_il2.effects.prepost import standardized_mean_change_raw

    k = cell.k
    theta = cell.mu + cell.tau * rng.standard_normal(k)
    ids = [f"s{i + 1}" for i in range(k)]
    n1 = cell.n // 2
    n2 = cell.n - n1
    if cell.outcome == "binary":
        p0 = cell.baseline_risk
        p1 = special.expit(special.logit(p0) + theta)
        events_t = rng.binomial(n1, p1)
        events_c = rng.binomial(n2, p0, size=k)
        yi, vi = log_odds_ratio(events_t, np.full(k, n1), events_c, np.full(k, n2), correction="only0")
        table = pd.DataFrame({"study_id": ids, "design": "rct", "reporting": "complete", "measure": "OR",
                              "yi": yi, "vi": vi})
        return table[np.isfinite(table["yi"])].reset_index(drop=True)

    n_single = int(round(cell.design_mix * k))
    n_degraded = 0 if cell.reporting == "complete" else min(int(round(cell.degraded_fraction * k)), k - 1)
    designs = ["rct"] * (k - n_single) + ["single_arm"] * n_single
    rows = []
    for i in range(k):
        if designs[i] == "single_arm":
            r = cell.prepost_r
            pre = rng.standard_normal(cell.n)
            post = r * pre + np.sqrt(1 - r * r) * rng.standard_normal(cell.n) + theta[i]
            m_pre, sd_pre = _arm_summary(pre)
            m_post, _ = _arm_summary(post)
            yi, vi = standardized_mean_change_raw(m_pre, sd_pre, m_post, cell.n, r)
            rows.append({"design": "single_arm", "reporting": "complete", "yi": float(yi), "vi": float(vi)})
            continue
        treated = theta[i] + rng.standard_normal(n1)
        control = rng.standard_normal(n2)
        rows.append({"design": "rct", "reporting": "complete", "arms": (treated, control)})
    rcts = [j for j, row in enumerate(rows) if row["design"] == "rct"]
    degraded = set(rcts[:n_degraded])
    complete_sds = [np.sqrt(((n1 - 1) * row["arms"][0].var(ddof=1) + (n2 - 1) * row["arms"][1].var(ddof=1))
                            / (n1 + n2 - 2)) for j, row in enumerate(rows) if j in rcts and j not in degraded]
    for j in rcts:
        treated, control = rows[j].pop("arms")
        (m1, s1), (m2, s2) = _arm_summary(treated), _arm_summary(control)
        how = cell.reporting if j in degraded else "complete"
        if how == "bounds":
            c1 = mean_sd_from_median_range(np.median(treated), treated.min(), treated.max(), n1)
            c2 = mean_sd_from_median_range(np.median(control), control.min(), control.max(), n2)
            (m1, s1), (m2, s2) = (float(c1.mean), float(c1.sd)), (float(c2.mean), float(c2.sd))
        elif how == "missing_sd":
            s1 = s2 = float(np.mean(complete_sds)) if complete_sds else 1.0
        if how == "pvalue_only":
            df = n1 + n2 - 2
            t = float(stats.ttest_ind(treated, control).statistic)
            t_back = np.sign(t) * stats.t.isf(_p_value_reported(t, df) / 2, df)
            d = t_back * np.sqrt(1 / n1 + 1 / n2)
            j_corr = float(hedges_j(df))
            yi = j_corr * d
            vi = j_corr ** 2 * ((n1 + n2) / (n1 * n2) + d ** 2 / (2 * (n1 + n2)))
        else:
            yi, vi = standardized_mean_difference(m1, s1, n1, m2, s2, n2)
        rows[j].update(reporting=how, yi=float(yi), vi=float(vi))
    table = pd.DataFrame(rows)
    table.insert(0, "study_id", ids)
    table["measure"] = np.where(table["design"] == "single_arm", "SMCR", "SMD")
    return table[["study_id", "design", "reporting", "measure", "yi", "vi"]]
