"""The frozen result objects of the classical estimators (plots and reports read these; never refit)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RMAResult:
    """A random- or common-effect meta-analysis (returned by :func:`bayes_il2.classical.rma`).

    Attributes
    ----------
    estimate, se : float
        Pooled effect on the model scale and its standard error under ``test`` (the Knapp-Hartung
        SE for ``knha``, the modified one for ``knha_modified``).
    ci_low, ci_high : float
        Confidence interval at ``level`` under ``test``.
    statistic, p, df : float
        z or t statistic, two-sided p-value, degrees of freedom (NaN for z).
    se_wald, wald_low, wald_high : float
        The Wald-type (normal) SE and interval, whatever ``test`` is (for comparison).
    tau2, tau2_se, tau2_ci : float, float, (float, float)
        Between-study variance, its SE (ML/REML only), Q-profile interval (Viechtbauer 2007).
    i2, i2_ci, h2, h2_ci : float, (float, float), float, (float, float)
        I^2 (percent) and H^2 from tau^2 with Q-profile intervals (Higgins & Thompson 2002).
    q, q_df, q_p : float, int, float
        Cochran's Q test of homogeneity.
    pi_low, pi_high : float
        Prediction interval for a new study's true effect, mu +/- t_{k-2} sqrt(tau^2 + SE_wald^2)
        (Higgins, Thompson & Spiegelhalter 2009); NaN when k < 3 or for the common-effect model.
    pi_pr_low, pi_pr_high : float
        Partlett & Riley (2017) variant: the Knapp-Hartung variance of mu in place of SE_wald^2, same
        t_{k-2}; NaN when k < 3 or for the common-effect model.
    k, method, test, level : int, str, str, float
    weights : tuple of float
        Percent weights of the studies in the estimate.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p: float
    df: float
    se_wald: float
    wald_low: float
    wald_high: float
    tau2: float
    tau2_se: float
    tau2_ci: tuple[float, float]
    i2: float
    i2_ci: tuple[float, float]
    h2: float
    h2_ci: tuple[float, float]
    q: float
    q_df: int
    q_p: float
    pi_low: float
    pi_high: float
    pi_pr_low: float
    pi_pr_high: float
    k: int
    method: str
    test: str
    level: float = 0.95
    weights: tuple[float, ...] = field(default=(), repr=False)

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    @property
    def width_ratio(self) -> float:
        """Width of the reported CI over the Wald CI (> 1: Knapp-Hartung widened it)."""
        return (self.ci_high - self.ci_low) / (self.wald_high - self.wald_low)

    def to_frame(self) -> pd.DataFrame:
        """One row, flat columns (intervals split into ``*_low``/``*_high``)."""
        row = {key: value for key, value in asdict(self).items() if key != "weights"}
        for name in ("tau2_ci", "i2_ci", "h2_ci"):
            low, high = row.pop(name)
            row[f"{name[:-3]}_ci_low"], row[f"{name[:-3]}_ci_high"] = low, high
        return pd.DataFrame([row])


@dataclass(frozen=True)
class RegressionResult:
    """A mixed-effects meta-regression (returned by :func:`bayes_il2.classical.rma_regression`).

    ``coefficients``: one row per coefficient (name, estimate, se, statistic, p, ci_low, ci_high).
    ``qm``/``qm_df``/``qm_p``: omnibus test of the moderators (all coefficients but the intercept):
    Wald chi^2 with ``qm_df`` df under ``test = "z"``; F with (``qm_df``, ``df_resid``) df under KH.
    ``qe``/``qe_df``/``qe_p``: test of residual heterogeneity. ``r2``: pseudo R^2 in percent, the
    proportional reduction of tau^2 against the intercept-only model (Raudenbush 2009), truncated at 0.
    """

    coefficients: pd.DataFrame
    tau2: float
    tau2_se: float
    tau2_ci: tuple[float, float]
    i2: float
    h2: float
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: int
    qm_p: float
    qm_test: str
    df_resid: float
    r2: float
    k: int
    method: str
    test: str
    level: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        return self.coefficients.assign(tau2=self.tau2, qm=self.qm, qm_df=self.qm_df, qm_p=self.qm_p,
                                        qm_test=self.qm_test, qe=self.qe, qe_df=self.qe_df, qe_p=self.qe_p,
                                        r2=self.r2, k=self.k, method=self.method, test=self.test)


@dataclass(frozen=True)
class PooledOR:
    """A common-effect pooled log odds ratio (or log risk ratio) from 2x2 tables (MH or Peto).

    ``estimate``/``se``/``ci_*`` on the log scale; ``q``/``q_df``/``q_p``/``i2`` the heterogeneity test.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p: float
    q: float
    q_df: int
    q_p: float
    i2: float
    k: int
    k_used: int
    method: str
    measure: str
    level: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(self)])
