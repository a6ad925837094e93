"""What an analysis rests on and what its data cannot identify, generated from the data it used.

One list of plain sentences per outcome: number of studies (k), designs mixed, diseases, a single
dose regimen, single-centre studies (from the registry's study notes), and the parameters the data
cannot identify (tau with k < 3: its posterior is mostly its prior, Röver et al. 2021; tau_within
when every disease has one study; tau_between with fewer than three diseases). The report shows
them in a caveat box beside the headline; nothing here reads a posterior.

Reference: Röver C, Bender R, Dias S, et al. On weakly informative prior distributions for the
heterogeneity parameter in Bayesian random-effects meta-analysis. Res Synth Methods
2021;12(4):448-474 (with few studies the heterogeneity is determined by its prior).
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

#: Words in a registry study note that mark a single-centre study.
SINGLE_CENTRE = re.compile(r"single[- ]cent(re|er)|monocent(re|er|ric)|one cent(re|er)", re.IGNORECASE)
#: Families whose between-study SD is called tau (two-level normal and binomial models).
_TWO_LEVEL = ("nnhm", "binomial_normal", "treg", "single_arm")


def _ids(effects: pd.DataFrame) -> list[str]:
    if "study_id" not in effects.columns:
        return []
    return [str(s).split(":")[0] for s in effects["study_id"].astype(str)]


def _distinct(effects: pd.DataFrame, column: str) -> list[str]:
    if column not in effects.columns:
        return []
    return sorted({str(v) for v in effects[column].dropna() if str(v) != ""})


def caveats(effects: pd.DataFrame, family: str | None, studies: pd.DataFrame | None = None,
            levels: int | None = None) -> list[str]:
    """Caveats of one fitted outcome, as sentences (empty when nothing applies or no data).

    Parameters
    ----------
    effects : the effect or event table the model was fitted to (``effects.csv``)
    family : model family (``nnhm``, ``three_level``, ``binomial_normal``, ``single_arm``, ``treg``,
        ``reanalysis``)
    studies : the registry's studies table (notes give single-centre designs; doses and designs
        where the effect table lacks them); None for user data
    levels : number of hierarchy levels of a ``single_arm`` model (2: studies within disease)

    Returns
    -------
    list of str
    """
    if effects is None or len(effects) == 0 or "study_id" not in effects.columns:
        return []
    ids = _ids(effects)
    k_rows = len(effects)
    k_studies = len(set(ids))
    out = []
    rows_word = f"{k_rows} arms from {k_studies} studies" if k_rows != k_studies else f"k = {k_studies} studies"
    out.append(f"Rests on {rows_word}.")
    registry = None
    if studies is not None and "study_id" in studies.columns:
        registry = studies[studies["study_id"].astype(str).isin(set(ids))]
    designs = _distinct(effects, "design") or (_distinct(registry, "design") if registry is not None else [])
    if len(designs) > 1:
        out.append("Designs mixed (" + ", ".join(designs) + "): randomized and non-randomized evidence are "
                   "pooled in one model.")
    elif len(designs) == 1 and designs[0] != "rct" and family != "reanalysis":
        out.append(f"Every study is {designs[0].replace('_', '-')}: no randomized comparison.")
    diseases = _distinct(effects, "disease")
    if diseases:
        out.append(f"{len(diseases)} disease{'s' if len(diseases) != 1 else ''}: " + ", ".join(diseases) + ".")
    doses = _distinct(effects, "dose_miu") or (_distinct(registry, "dose_miu") if registry is not None else [])
    if len(doses) == 1 and k_studies > 1:
        out.append(f"A single dose regimen ({doses[0]} MIU per injection): the data say nothing about other doses.")
    if registry is not None and "note" in registry.columns:
        single = sorted({str(r["study_id"]) for _, r in registry.iterrows()
                         if isinstance(r.get("note"), str) and SINGLE_CENTRE.search(r["note"])})
        if single:
            share = "the only study is" if k_studies == 1 else (
                "every study is" if len(single) == k_studies else f"{len(single)} of {k_studies} studies are")
            out.append(f"Single centre: {share} single-centre ({', '.join(single)}), per the registry notes.")
    out += unidentified(effects, family, k_studies, diseases, levels)
    return out


def unidentified(effects: pd.DataFrame, family: str | None, k: int, diseases: list[str],
                 levels: int | None = None) -> list[str]:
    """Sentences naming the variance parameters the data cannot identify."""
    out = []
    prior_only = "its posterior is mostly its prior; read the heterogeneity and the prediction interval with care"
    if family in _TWO_LEVEL and not (family == "single_arm" and levels == 2):
        if k == 1:
            out.append("tau is not identified (one study): " + prior_only + ".")
        elif k < 3:
            out.append(f"tau is weakly identified (k = {k} < 3): " + prior_only + ".")
    if family == "three_level" or (family == "single_arm" and levels == 2):
        counts = effects.groupby("disease")["study_id"].count() if "disease" in effects.columns else pd.Series()
        if len(counts) and (counts <= 1).all():
            out.append("tau_within is not identified: one study per disease, so within-disease and "
                       "between-disease heterogeneity cannot be told apart; " + prior_only + ".")
        if 0 < len(diseases) < 3:
            out.append(f"tau_between is weakly identified ({len(diseases)} disease"
                       f"{'s' if len(diseases) != 1 else ''}): " + prior_only + ".")
    return out


def caveat_html(items: list[str]) -> str:
    """The caveat box (escaped)."""
    from html import escape

    if not items:
        return ""
    return ('<aside class="caveats"><b>What this rests on</b><ul>'
            + "".join(f"<li>{escape(t)}</li>" for t in items) + "</ul></aside>")


def family_levels(fit_meta: dict[str, Any]) -> int | None:
    """Hierarchy levels of a single-arm fit from its stored settings (None when not recorded)."""
    settings = fit_meta.get("settings") or {}
    value = settings.get("levels")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
