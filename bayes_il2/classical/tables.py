"""The classical results of one analysis as a table (``classical.csv``), computed from its effect or
event table: the rows an analysis writes beside its Bayesian summary.

- Effect tables (yi, vi): REML with the Hartung-Knapp-Sidik-Jonkman interval (the headline row),
  DerSimonian-Laird, Paule-Mandel (Wald intervals) and the common-effect (EE) model.
- Two-arm event tables (events_t, n_t, events_c, n_c): the same on the log odds ratios of the table
  (0.5 added to every cell of zero-cell studies, double-zero studies left out, as the table records in
  ``corrected``/``double_zero``), plus Mantel-Haenszel and Peto odds ratios, which need no correction.
- Single-arm event tables (events, n): REML + HKSJ on the logit proportions (0.5 added to arms with
  0 or n events, as the table records).

Every row carries both scales: ``estimate, ci_low, ...`` on the model scale and ``*_natural`` on the
natural scale of the measure (exp for log ratios, expit for logits). The headline row also carries the
S-values of Mathur & VanderWeele (2020): how many times more likely an affirmative study would have to be
published than a non-affirmative one to move the estimate (``svalue_est``) or its confidence limit
(``svalue_ci``) to the null (inf: no such selection can; 1: already there).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_il2.classical.binary import rma_mh, rma_peto
from bayes_il2.classical.rma import rma
from bayes_il2.classical.result import RMAResult
from bayes_il2.errors import ModelError

#: (label, method, test) of the random-/common-effect rows, headline first.
RMA_ROWS = (("REML + HKSJ", "REML", "knha"), ("DerSimonian-Laird", "DL", "z"), ("Paule-Mandel", "PM", "z"),
            ("Common effect (inverse variance)", "EE", "z"))
COLUMNS = ["model", "method", "test", "measure", "k", "estimate", "se", "ci_low", "ci_high", "p", "wald_low",
           "wald_high", "tau2", "tau2_ci_low", "tau2_ci_high", "i2", "i2_ci_low", "i2_ci_high", "q", "q_df",
           "q_p", "pi_low", "pi_high", "pi_pr_low", "pi_pr_high", "estimate_natural", "ci_low_natural",
           "ci_high_natural", "pi_low_natural", "pi_high_natural", "svalue_est", "svalue_ci", "note"]
_NATURAL = {"estimate": "estimate_natural", "ci_low": "ci_low_natural", "ci_high": "ci_high_natural",
            "pi_low": "pi_low_natural", "pi_high": "pi_high_natural"}


def _natural(measure: str):
    from bayes_il2.effects import natural_scale

    return natural_scale(measure)


def _with_effects(table: pd.DataFrame) -> pd.DataFrame:
    """Event tables without yi/vi (a user's counts) get them as the registry's event tables do: log odds
    ratios or logit proportions with 0.5 added to the cells of zero-cell rows (flagged in ``corrected``),
    double-zero studies left without a value."""
    if {"yi", "vi"} <= set(table.columns):
        return table
    from bayes_il2.effects.binary import log_odds_ratio, logit_proportion

    out = table.copy()
    if {"events_t", "n_t", "events_c", "n_c"} <= set(table.columns):
        cells = (pd.to_numeric(table[c]).to_numpy(float) for c in ("events_t", "n_t", "events_c", "n_c"))
        eff = log_odds_ratio(*cells)
    elif {"events", "n"} <= set(table.columns):
        eff = logit_proportion(pd.to_numeric(table["events"]).to_numpy(float),
                               pd.to_numeric(table["n"]).to_numpy(float))
    else:
        raise ModelError("classical_table: the table has neither yi/vi nor event counts")
    out["yi"], out["vi"], out["corrected"] = eff.yi, eff.vi, eff.corrected
    return out


def _usable(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    yi = pd.to_numeric(table["yi"], errors="coerce").to_numpy(float)
    vi = pd.to_numeric(table["vi"], errors="coerce").to_numpy(float)
    ok = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
    return yi[ok], vi[ok], int((~ok).sum())


def _rma_row(label: str, fit: RMAResult, measure: str, note: str) -> dict:
    row = fit.to_frame().iloc[0].to_dict()
    row.update({"model": label, "measure": measure, "note": note})
    return row


def _svalues(yi: np.ndarray, vi: np.ndarray) -> dict:
    """Mathur & VanderWeele (2020) S-values for the estimate and its CI limit (random-effects weights)."""
    from bayes_il2.classical.bias import svalue

    try:
        res = svalue(yi, vi)
    except ModelError:
        return {}
    return {"svalue_est": res.sval_est, "svalue_ci": res.sval_ci}


def classical_table(table: pd.DataFrame, measure: str) -> tuple[pd.DataFrame, RMAResult | None]:
    """The ``classical.csv`` rows of an effect or event table, and the headline REML + HKSJ fit.

    Parameters
    ----------
    table : DataFrame
        An effect table (``yi``, ``vi``) or an event table as built by :mod:`bayes_il2.effects`
        (two-arm: ``events_t, n_t, events_c, n_c``; single-arm: ``events, n``; both carry yi/vi).
    measure : str
        The measure code of yi (OR, PLO, ROMC, ...).

    Returns
    -------
    (DataFrame, RMAResult or None)
        One row per method (columns :data:`COLUMNS`); a method that cannot be fitted gets a row with
        the reason in ``note`` and blank numbers. The headline fit is None when REML failed.
    """
    table = _with_effects(table)
    two_arm = {"events_t", "n_t", "events_c", "n_c"} <= set(table.columns)
    single_arm = {"events", "n"} <= set(table.columns) and not two_arm
    yi, vi, dropped = _usable(table)
    notes = []
    if dropped:
        notes.append(f"{dropped} row(s) without a usable yi/vi left out"
                     + (" (double-zero studies carry no information on the OR)" if two_arm else ""))
    if (two_arm or single_arm) and "corrected" in table.columns and table["corrected"].astype(bool).any():
        notes.append(f"0.5 added to the cells of {int(table['corrected'].astype(bool).sum())} zero-cell "
                     "row(s) for the inverse-variance rows")
    base_note = "; ".join(notes)
    rows: list[dict] = []
    headline: RMAResult | None = None
    specs = RMA_ROWS[:1] if single_arm else RMA_ROWS
    for label, method, test in specs:
        try:
            fit = rma(yi, vi, method=method, test=test)
        except ModelError as exc:
            rows.append({"model": label, "method": method, "test": test, "measure": measure, "k": len(yi),
                         "note": str(exc)})
            continue
        row = _rma_row(label, fit, measure, base_note)
        if headline is None and method == "REML":
            headline = fit
            row.update(_svalues(yi, vi))
        rows.append(row)
    if two_arm:
        a = pd.to_numeric(table["events_t"], errors="coerce").to_numpy(float)
        n1 = pd.to_numeric(table["n_t"], errors="coerce").to_numpy(float)
        c = pd.to_numeric(table["events_c"], errors="coerce").to_numpy(float)
        n2 = pd.to_numeric(table["n_c"], errors="coerce").to_numpy(float)
        for label, fn in (("Mantel-Haenszel OR", lambda: rma_mh(a, n1 - a, c, n2 - c, measure="OR")),
                          ("Peto OR", lambda: rma_peto(a, n1 - a, c, n2 - c))):
            try:
                res = fn()
            except ModelError as exc:
                rows.append({"model": label, "method": label.split()[0], "test": "z", "measure": "OR",
                             "k": len(a), "note": str(exc)})
                continue
            rows.append({"model": label, "method": res.method, "test": "z", "measure": "OR", "k": res.k,
                         "estimate": res.estimate, "se": res.se, "ci_low": res.ci_low, "ci_high": res.ci_high,
                         "p": res.p, "wald_low": res.ci_low, "wald_high": res.ci_high, "tau2": 0.0,
                         "q": res.q, "q_df": res.q_df, "q_p": res.q_p, "i2": res.i2,
                         "note": f"common effect; {res.k - res.k_used} study(ies) without events carry no "
                                 f"information" if res.k_used < res.k else "common effect; no correction"})
    out = pd.DataFrame(rows, columns=COLUMNS)
    nat = _natural(measure)
    for src, dst in _NATURAL.items():
        out[dst] = nat(pd.to_numeric(out[src], errors="coerce").to_numpy(float))
    return out, headline
