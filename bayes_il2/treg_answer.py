"""The Treg answer per disease, from a fit of the partial-information table (issue #14).

Two tables the pipeline writes beside a ``treg_partial`` analysis:

- ``predictions.csv``: for each focus disease that contributes no Treg number (pSS today), the
  posterior predictive Treg expansion of a NEW study of that disease. It is a prediction that rests
  on the other diseases (assumed exchangeable with them), never an estimate from data of it; the
  disease enters the model as soon as its numbers are added to the registry.
- ``scales.csv``: the pooled expansion on both scales, the ratio of means (the package's) and the
  standardized mean change (the published meta-analyses'), beside every published pooled Treg SMD
  of the registry (data/meta_analyses.csv). The conversion SMCR = (exp(ROMC) - 1) / cv_pre with the
  fit's typical baseline CV is :func:`bayes_il2.modeling.partial.on_standardized_scale`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_il2.errors import BayesIL2Error


def _interval(draws) -> tuple[float, float, float]:
    x = np.asarray(draws, dtype=float).ravel()
    x = x[np.isfinite(x)]
    return float(np.median(x)), float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))


def predictions(fit, excluded: pd.DataFrame) -> pd.DataFrame:
    """One row per focus disease with no Treg number: the predicted expansion of a new study."""
    from bayes_il2.modeling.partial import predict_new_study

    missing = [s.split(":", 1)[1] for s in excluded.get("study_id", pd.Series(dtype=str)).astype(str)
               if s.startswith("disease:")]
    rows = []
    for disease in missing:
        reason = excluded.loc[excluded["study_id"].astype(str) == f"disease:{disease}", "reason"].iloc[0]
        draws = predict_new_study(fit, disease)
        med, low, high = _interval(np.exp(draws) if fit.measure in ("ROMC", "ROM") else draws)
        rows.append({"disease": disease, "kind": "prediction for a new study (not an estimate)",
                     "median": med, "low": low, "high": high,
                     "scale": "ratio of means post/pre" if fit.measure in ("ROMC", "ROM") else fit.measure,
                     "rests_on": f"the other diseases' studies (k = {fit.data['study_id'].nunique()}), assumed "
                                 "exchangeable with a new study of this disease",
                     "why_no_data": reason})
    return pd.DataFrame(rows, columns=["disease", "kind", "median", "low", "high", "scale", "rests_on",
                                       "why_no_data"])


def scales(fit, registry) -> pd.DataFrame:
    """The pooled expansion on the ratio and standardized scales beside the published pooled SMDs."""
    from bayes_il2.modeling.partial import on_standardized_scale

    post = fit.idata["posterior"]
    rows = []
    med, low, high = _interval(np.exp(post["mu"]))
    rows.append({"source": "this analysis (pooled mu)", "scale": "ratio of means post/pre", "estimate": med,
                 "low": low, "high": high, "k": fit.data["study_id"].nunique(), "note": ""})
    try:
        med, low, high = _interval(on_standardized_scale(fit, "mu"))
        rows.append({"source": "this analysis (pooled mu)", "scale": "SMCR (converted)", "estimate": med,
                     "low": low, "high": high, "k": fit.data["study_id"].nunique(),
                     "note": "SMCR = (exp(ROMC) - 1) / cv_pre at the typical baseline CV of the fit, draw by draw"})
    except BayesIL2Error as exc:
        rows.append({"source": "this analysis (pooled mu)", "scale": "SMCR (converted)", "estimate": np.nan,
                     "low": np.nan, "high": np.nan, "k": np.nan, "note": f"not converted: {exc}"})
    meta = getattr(registry, "meta_analyses", None)
    if meta is not None and len(meta):
        # published pooled Treg changes on a standardized scale (registry_outcome names a Treg measurement)
        outcome = meta.get("registry_outcome", pd.Series("", index=meta.index)).astype(str)
        scale = meta.get("scale", pd.Series("", index=meta.index)).astype(str)
        treg = meta[outcome.str.startswith("treg") & scale.str.upper().str.startswith(("SMD", "SMC"))]
        for _, m in treg.iterrows():
            rows.append({"source": f"{m['ma_id']} (published)", "scale": str(m["scale"]),
                         "estimate": pd.to_numeric(m["estimate"], errors="coerce"),
                         "low": pd.to_numeric(m["ci_low"], errors="coerce"),
                         "high": pd.to_numeric(m["ci_high"], errors="coerce"),
                         "k": pd.to_numeric(m["k"], errors="coerce"), "note": str(m.get("note", ""))[:160]})
    return pd.DataFrame(rows)
