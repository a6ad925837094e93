"""What each model needs from the data, and what it cannot identify with less.

Every family declares its minimum data (:func:`check_identifiable`):

- normal-normal and Treg models: k studies; with k = 1 there is nothing to pool (the pooled mean is
  the one study's effect shrunk towards the prior) and tau is its prior; with k = 2 tau is barely
  identified;
- three-level: at least two groups (refused otherwise); when every group holds one study,
  tau_within and tau_between are not separately identified (only their sum of squares is);
- meta-regression: fewer covariate columns than k - 1 (refused otherwise);
- two-arm event counts: at least one event in some arm (refused otherwise: the odds ratio is not
  identified); single-arm rates: with no event in any study the rate's upper end is the prior's;
- design bias of event rates: without an RCT arm the biases are identified by their prior alone.

Below the minimum a model is refused (:class:`~bayes_il2.errors.ModelError`), or fitted and labelled:
the returned :class:`Caveat` s go into the fit's settings, and from there into every table, plot and
headline (no pooled diamond is drawn over one study).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from bayes_il2.errors import ModelError


@dataclass(frozen=True)
class Caveat:
    """A parameter the data cannot identify (or barely), and what that means for the result.

    ``pooled`` is False when there is nothing to pool at all (one study): then no pooled summary
    or prediction is drawn.
    """

    parameter: str
    message: str
    pooled: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def _k(table: pd.DataFrame) -> int:
    return int(table["study_id"].astype(str).nunique()) if "study_id" in table.columns else len(table)


def check_identifiable(family: str, table: pd.DataFrame, covariates: Sequence[str] | None = None,
                       levels: int | None = None) -> list[Caveat]:
    """Refuse what the data cannot support and list the caveats of what they barely support.

    Parameters
    ----------
    family : model family (``nnhm``, ``three_level``, ``treg``, ``single_arm``, ``binomial_normal``)
    table : the table the model would be fitted to
    covariates : meta-regression covariates
    levels : levels of the single-arm model (2 = studies within disease)

    Raises
    ------
    ModelError
        Three-level with fewer than two groups; more covariates than k - 2; two-arm counts
        without a single event.
    """
    caveats: list[Caveat] = []
    k = _k(table)
    heterogeneity = {"three_level": "tau_within"}.get(family, "tau")
    if k == 1:
        caveats.append(Caveat(heterogeneity, "k = 1: no pooling; the pooled value is the one study's effect "
                              "shrunk by the prior, and tau is the prior", pooled=False))
    elif k == 2:
        caveats.append(Caveat(heterogeneity, "k = 2: tau is barely identified; its posterior is mostly the prior"))
    if covariates:
        p = len(covariates)
        if p > k - 2:
            raise ModelError(f"{family}: {p} covariate(s) need at least {p + 2} studies (intercept, slopes and "
                             f"tau); the table has {k}")
    two_level = family == "three_level" or (family == "single_arm" and levels == 2)
    if two_level and "disease" in table.columns:
        per_group = table.groupby(table["disease"].astype(str))["study_id"].nunique()
        if len(per_group) < 2:
            raise ModelError(f"{family}: a model with a disease (group) level needs at least two groups; "
                             f"the table has {len(per_group)} ({', '.join(per_group.index)})")
        within = "tau_within"
        if (per_group == 1).all():
            caveats.append(Caveat(within, "every group has one study: tau_within and tau_between are not "
                                  "separately identified (only tau_within^2 + tau_between^2 is); their split "
                                  "is the prior's"))
            caveats.append(Caveat("tau_between", "every group has one study: tau_between is not separately "
                                  "identified from tau_within"))
        elif len(per_group) == 2:
            caveats.append(Caveat("tau_between", "2 groups: tau_between is barely identified; its posterior is "
                                  "mostly the prior"))
    if family == "binomial_normal" and {"events_t", "events_c"} <= set(table.columns):
        if float(pd.to_numeric(table["events_t"]).sum() + pd.to_numeric(table["events_c"]).sum()) == 0:
            raise ModelError("binomial_normal: no arm of any study has an event; the odds ratio is not identified")
    if family in ("single_arm", "exnex_rate", "design_bias_rate") and "events" in table.columns:
        if float(pd.to_numeric(table["events"]).sum()) == 0:
            caveats.append(Caveat("mu", "no events in any study: the rate's upper end comes from the prior"))
    if family == "design_bias_rate" and "design" in table.columns:
        designs = set(table["design"].astype(str))
        if designs and "rct" not in designs:
            caveats.append(Caveat("b_design", "no arm of a randomised trial in the table: the design biases are "
                                  "separated from mu by their prior alone (not identified by the data); mu is "
                                  "the rate of a typical arm of the weaker designs shifted by a prior-only bias"))
    return caveats


def headline_prefix(caveats: Sequence[Caveat | dict]) -> str:
    """The words a headline starts with when the result rests on an unidentified parameter."""
    items = [c if isinstance(c, dict) else c.to_dict() for c in caveats]
    if any(not c.get("pooled", True) for c in items):
        return "k = 1, no pooling: "
    if any("not separately identified" in c.get("message", "") for c in items):
        return "tau split not identified: "
    return ""
