"""How much the pooling assumptions matter, in the report: EXNEX beside the plain model, and the
model-averaged answer (issue 17).

An EXNEX analysis writes two tables into its outcome folder (:mod:`bayes_il2.modeling.structures`):

``exnex_by_disease``
    disease, k, designs, ``<plain>_mean/low/high`` (the model in which every disease is exchangeable:
    ``three_level`` for Treg changes, ``single_arm`` for event rates), ``exnex_mean/low/high``,
    optionally ``design_bias_mean/low/high``, ``p_exch_prior``, ``p_exch_post``, ``shift`` (EXNEX minus
    plain); all on the model scale.
``model_average``
    method (``exact marginal likelihood`` or ``stacking``), model, prior_prob, log_ml, elpd_loo,
    pareto_k_high, weight, mu_mean, mu_low, mu_high (model scale), prior_sensitive, note; each method's
    averaged answer is its row ``model = "averaged"``.

:func:`pooling_section` turns them into one HTML section: the averaged answer on the natural scale with
the weights and the method that gave them, the per-disease table (plain vs EXNEX vs design bias),
the disease EXNEX moves most in a generated sentence, the prior-sensitivity flag and the Pareto-k
warnings in words. Everything is read from the tables; missing optional columns are left out.

References: Neuenschwander B, Wandel S, Roychoudhury S, Bailey S (2016). Robust exchangeability designs
for early phase clinical trials with multiple strata. Pharm Stat 15:123-134. Hoeting JA, Madigan D,
Raftery AE, Volinsky CT (1999). Bayesian model averaging: a tutorial. Stat Sci 14:382-417. Yao Y,
Vehtari A, Simpson D, Gelman A (2018). Using stacking to average Bayesian predictive distributions.
Bayesian Anal 13:917-1007.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

import numpy as np
import pandas as pd

#: The outcome-folder tables this section reads.
TABLES = ("exnex_by_disease", "model_average")
#: Models in words (others: the name with spaces).
MODEL_WORDS = {
    "common_effect": "common effect", "random_effects": "random effects", "three_level": "three-level",
    "single_arm": "single-arm rates", "exnex": "EXNEX", "exnex_rate": "EXNEX", "design_bias": "design bias",
    "nnhm": "random effects",
}
#: What each weighting method's weights are, in words.
METHOD_WORDS = {
    "exact marginal likelihood": ("posterior model probabilities from exact marginal likelihoods (prior model "
                                  "probabilities as listed): the probability of each model given the data, "
                                  "under the priors of its parameters"),
    "stacking": ("stacking weights of the leave-one-study-out predictive densities (PSIS-LOO; Yao et al. 2018): "
                 "the mixture of models that best predicts a left-out study. They are predictive weights, "
                 "not posterior probabilities that a model is true"),
}
#: Estimate prefixes that are not the plain (all-exchangeable) model in ``exnex_by_disease``.
_NOT_PLAIN = ("exnex", "design_bias", "mu_disease")
#: The 'mu_disease_*' columns of the bare exchangeability table (no comparison written) stand for EXNEX.
_EXNEX_PREFIXES = ("exnex", "mu_disease")


def model_words(name: Any) -> str:
    """A model name in words (``three_level`` -> ``three-level``)."""
    text = str(name)
    return MODEL_WORDS.get(text, text.replace("_", " "))


def disease_words(name: Any) -> str:
    """A disease code as displayed (underscores as spaces)."""
    return str(name).replace("_", " ")


def has_pooling(tables: Mapping[str, pd.DataFrame]) -> bool:
    """True when an outcome's extra tables hold a non-empty EXNEX or model-average table."""
    return any(name in tables and len(tables[name]) for name in TABLES)


def estimate_prefixes(table: pd.DataFrame) -> list[str]:
    """The models with ``<prefix>_mean``, ``_low`` and ``_high`` columns: the plain one(s) first, then EXNEX,
    then design bias."""
    prefixes = [c[: -len("_mean")] for c in table.columns if str(c).endswith("_mean")]
    prefixes = [p for p in prefixes if {f"{p}_low", f"{p}_high"} <= set(table.columns)]
    plain = [p for p in prefixes if p not in _NOT_PLAIN]
    exnex = [p for p in _EXNEX_PREFIXES if p in prefixes][:1]
    bias = [p for p in prefixes if p == "design_bias"]
    return plain + exnex + bias


def _flag(value: Any) -> bool:
    """A prior_sensitive cell as read from CSV (bool, 'True'/'False', NaN) -> bool."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    return str(value).strip().lower() in ("true", "1", "yes")


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _short(x: Any) -> str:
    x = _num(x)
    return f"{x:.3g}" if np.isfinite(x) else "n/a"


def _scale_kind(measure: str | None) -> str:
    """``log``, ``logit``, ``arcsine`` or ``identity``: the model scale of a measure (effects.MEASURES)."""
    from bayes_il2.effects.measures import LOG_MEASURES, MEASURES

    code = str(measure or "")
    if code in LOG_MEASURES:
        return "log"
    rows = MEASURES.loc[MEASURES["code"] == code, "scale"]
    return str(rows.iloc[0]) if len(rows) else "identity"


def _natural_words(measure: str | None) -> str:
    from bayes_il2.report.describe import NATURAL_WORDS

    return NATURAL_WORDS.get(str(measure), str(measure or "effect"))


def _interval(nat: Callable[[Any], Any], mean: Any, low: Any, high: Any) -> str:
    with np.errstate(all="ignore"):
        m, lo, hi = (nat(np.asarray(_num(v))) for v in (mean, low, high))
    return f"{_short(m)} (95% CrI {_short(lo)} to {_short(hi)})"


def _methods(average: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(method, its rows) in the order of the file; rows without a method form one unnamed group."""
    if "method" not in average.columns:
        return [("", average)]
    method = average["method"].fillna("").astype(str)
    return [(m, average[method == m]) for m in dict.fromkeys(method)]


def notes_of(average: pd.DataFrame) -> list[str]:
    """The notes of a ``model_average`` table (its ``note`` cells, each a '; '-joined list)."""
    if average is None or "note" not in average.columns:
        return []
    cells = [str(n) for n in average["note"].dropna() if str(n).strip()]
    return [n.strip() for cell in cells for n in cell.split("; ") if n.strip()]


def _models_and_weights(rows: pd.DataFrame) -> list[tuple[str, float]]:
    models = rows[rows.get("model", pd.Series("", index=rows.index)).astype(str) != "averaged"]
    return [(str(r.get("model")), _num(r.get("weight"))) for _, r in models.iterrows()]


def averaged_headlines(average: pd.DataFrame, measure: str | None) -> list[str]:
    """One line per weighting method: its averaged answer on the natural scale, the method and the weights.

    Parameters
    ----------
    average : DataFrame
        The ``model_average`` table.
    measure : str or None
        The analysis's measure; its back-transform is :func:`bayes_il2.effects.natural_scale`.

    Returns
    -------
    list of str (plain text), e.g. "model-averaged ratio of means, post/pre 1.8 (95% CrI 1.4 to 2.3)
    by stacking over EXNEX 0.62, three-level 0.30, design bias 0.08".
    """
    from bayes_il2.report.render import _natural

    if average is None or "model" not in average.columns or not {"mu_mean", "mu_low", "mu_high"} <= set(average.columns):
        return []
    nat = _natural(measure)
    lines = []
    for method, rows in _methods(average):
        avg = rows[rows["model"].astype(str) == "averaged"]
        if avg.empty:
            continue
        a = avg.iloc[0]
        weights = ", ".join(f"{model_words(m)} {w:.2f}" for m, w in _models_and_weights(rows) if np.isfinite(w))
        how = f" by {method}" if method else ""
        over = f" over {weights}" if weights else ""
        lines.append(f"model-averaged {_natural_words(measure)} {_interval(nat, a['mu_mean'], a['mu_low'], a['mu_high'])}"
                     f"{how}{over}")
    return lines


def spread_sentence(average: pd.DataFrame, measure: str | None) -> str:
    """How far apart the models' own answers are: the lowest and highest posterior mean of mu among the
    models of the ``model_average`` table (natural scale), each with its model; '' with fewer than two."""
    from bayes_il2.report.render import _natural

    if average is None or not {"model", "mu_mean"} <= set(average.columns):
        return ""
    models = average[average["model"].astype(str) != "averaged"].copy()
    models["_mu"] = pd.to_numeric(models["mu_mean"], errors="coerce")
    models = models.dropna(subset=["_mu"]).drop_duplicates(subset=["model", "_mu"])
    if models["model"].astype(str).nunique() < 2:
        return ""
    nat = _natural(measure)
    low, high = models.loc[models["_mu"].idxmin()], models.loc[models["_mu"].idxmax()]
    with np.errstate(all="ignore"):
        lo, hi = nat(np.asarray(low["_mu"])), nat(np.asarray(high["_mu"]))
    return (f"Across the {models['model'].astype(str).nunique()} models the pooled {_natural_words(measure)} "
            f"(back-transformed posterior mean of μ) ranges from {_short(lo)} ({model_words(low['model'])}) to "
            f"{_short(hi)} ({model_words(high['model'])}).")


def _shift_factor(shift: float, measure: str | None) -> str:
    """The model-scale shift read on the natural scale: a factor on the odds (logit) or on the ratio (log)."""
    kind = _scale_kind(measure)
    if kind == "logit":
        return f" (odds ×{np.exp(shift):.2f})"
    if kind == "log":
        return f" ({_natural_words(measure)} ×{np.exp(shift):.2f})"
    return ""


def shift_sentences(by_disease: pd.DataFrame, measure: str | None) -> list[str]:
    """The disease each alternative model moves most against the plain model, in words.

    EXNEX uses the ``shift`` column when present (EXNEX minus plain, model scale), else the difference of the
    means; the design-bias model (when its columns exist) the difference of its means from the plain ones.
    """
    from bayes_il2.report.render import _natural

    if by_disease is None or "disease" not in by_disease.columns or by_disease.empty:
        return []
    prefixes = estimate_prefixes(by_disease)
    plain = [p for p in prefixes if p not in _NOT_PLAIN]
    if not plain:
        return []
    base = plain[0]
    nat = _natural(measure)
    kind = _scale_kind(measure)
    sentences = []
    for other in [p for p in prefixes if p in _EXNEX_PREFIXES or p == "design_bias"]:
        if other in _EXNEX_PREFIXES and "shift" in by_disease.columns:
            shift = pd.to_numeric(by_disease["shift"], errors="coerce")
        else:
            shift = (pd.to_numeric(by_disease[f"{other}_mean"], errors="coerce")
                     - pd.to_numeric(by_disease[f"{base}_mean"], errors="coerce"))
        if not shift.notna().any():
            continue
        i = shift.abs().idxmax()
        row = by_disease.loc[i]
        s = float(shift.loc[i])
        with np.errstate(all="ignore"):
            before, after = nat(np.asarray(_num(row[f"{base}_mean"]))), nat(np.asarray(_num(row[f"{other}_mean"])))
        text = (f"{model_words(other if other != 'mu_disease' else 'exnex')} moves {disease_words(row['disease'])} "
                f"by {s:+.2f} on the {kind} scale{_shift_factor(s, measure)}: from {_short(before)} under the "
                f"{model_words(base)} model to {_short(after)}")
        if other in _EXNEX_PREFIXES and {"p_exch_prior", "p_exch_post"} <= set(by_disease.columns):
            text += (f"; its probability of being exchangeable with the other diseases goes from "
                     f"{_short(row['p_exch_prior'])} to {_short(row['p_exch_post'])}")
        rest = shift.drop(index=i).abs()
        if rest.notna().any():
            text += f". No other disease moves by more than {float(rest.max()):.2f}"
        sentences.append(text[0].upper() + text[1:] + ".")
    return sentences


def sensitivity_sentences(average: pd.DataFrame) -> list[str]:
    """The prior-sensitivity flag and the Pareto-k warnings of a ``model_average`` table, in words."""
    if average is None or average.empty:
        return []
    out = []
    notes = notes_of(average)
    if "prior_sensitive" in average.columns:
        for method, rows in _methods(average):
            if any(_flag(v) for v in rows["prior_sensitive"]):
                detail = [n.split("prior-sensitive:", 1)[-1].strip() for n in notes if "prior-sensitive" in n]
                out.append(f"The {method + ' ' if method else ''}weights are prior-sensitive: they change materially "
                           "when the prior of the heterogeneity (τ) is made narrower or wider, because a marginal "
                           "likelihood depends on the priors of the parameters a model adds. Read them as conditional "
                           "on the stated priors" + (f" ({detail[0]})." if detail else "."))
    if "pareto_k_high" in average.columns:
        k = pd.to_numeric(average["pareto_k_high"], errors="coerce")
        bad = average[k > 0]
        if len(bad):
            which = ", ".join(f"{model_words(r['model'])} ({int(_num(r['pareto_k_high']))} "
                              f"{'study' if int(_num(r['pareto_k_high'])) == 1 else 'studies'})"
                              for _, r in bad.iterrows())
            out.append(f"PSIS-LOO is unreliable where a study has Pareto k > 0.7: {which}. Such a study's "
                       "left-out predictive density is poorly estimated, so the stacking weights are rough.")
    return out


def _weights_html(average: pd.DataFrame, measure: str | None) -> str:
    from bayes_il2.report.render import _natural, html_table, scale_note

    nat = _natural(measure)
    parts = []
    for method, rows in _methods(average):
        table = rows.copy()
        table["model"] = [model_words(m) if str(m) != "averaged" else "averaged (this method)" for m in table["model"]]
        if {"mu_mean", "mu_low", "mu_high"} <= set(table.columns):
            table["_mu"] = [_interval(nat, m, lo, hi) for m, lo, hi in
                            zip(table["mu_mean"], table["mu_low"], table["mu_high"])]
        columns = [("model", "Model"), ("prior_prob", "Prior probability"), ("log_ml", "log marginal likelihood"),
                   ("elpd_loo", "elpd (PSIS-LOO)"), ("pareto_k_high", "Studies with Pareto k > 0.7"),
                   ("weight", "Weight"), ("_mu", f"μ, {_natural_words(measure)} (natural)")]
        columns = [(c, h) for c, h in columns if c in table.columns and (c == "_mu" or table[c].notna().any())]
        meaning = METHOD_WORDS.get(method, "")
        parts.append(f"<h5>{escape(method.capitalize() or 'Weights')}</h5>"
                     + (f"<p>Weights: {escape(meaning)}.</p>" if meaning else ""))

        def cell(col: str, value: Any, row: pd.Series) -> str | None:
            return escape(str(value)) if col == "_mu" else None

        parts.append(html_table(table, columns, cell=cell))
    note = scale_note(f"weights 0 to 1 within each method; μ as the back-transformed posterior mean with its 95% "
                      f"equal-tailed CrI on the natural scale ({escape(_natural_words(measure))}); log marginal "
                      "likelihood and elpd on the log scale.")
    return note + "".join(parts)


def _by_disease_html(by_disease: pd.DataFrame, measure: str | None) -> str:
    from bayes_il2.report.render import _natural, html_table, scale_note

    nat = _natural(measure)
    table = by_disease.copy()
    columns: list[tuple[str, str]] = [("disease", "Disease"), ("k", "k"), ("designs", "Designs")]
    for p in estimate_prefixes(table):
        col = f"_{p}"
        table[col] = [_interval(nat, m, lo, hi) for m, lo, hi in
                      zip(table[f"{p}_mean"], table[f"{p}_low"], table[f"{p}_high"])]
        name = model_words("exnex" if p == "mu_disease" else p)
        name = name[0].upper() + name[1:]
        columns.append((col, name + (" (every disease exchangeable)" if p not in _NOT_PLAIN else "")))
    if {"p_exch_prior", "p_exch_post"} <= set(table.columns):
        table["_pexch"] = [f"{_short(a)} → {_short(b)}" for a, b in zip(table["p_exch_prior"], table["p_exch_post"])]
        columns.append(("_pexch", "P(exchangeable) prior → posterior"))
    elif "p_exch_post" in table.columns:
        columns.append(("p_exch_post", "P(exchangeable | data)"))
    if "shift" in table.columns:
        columns.append(("shift", f"Shift EXNEX − plain ({_scale_kind(measure)} scale)"))
    columns = [(c, h) for c, h in columns if c in table.columns]
    computed = {c for c, _ in columns if c.startswith("_")}

    def cell(col: str, value: Any, row: pd.Series) -> str | None:
        if col in computed:
            return escape(str(value))
        if col == "shift":
            v = _num(value)
            return f"{v:+.2f}" if np.isfinite(v) else ""
        return None

    shift = (f"; the shift on the model scale ({escape(str(measure))})" if "shift" in table.columns else "")
    note = scale_note(f"disease means as back-transformed posterior means with 95% equal-tailed CrI on the natural "
                      f"scale ({escape(_natural_words(measure))}){shift}.")
    return note + html_table(table, columns, cell=cell)


def pooling_title(tables: Mapping[str, pd.DataFrame]) -> str:
    """"Does it matter that diseases (and designs) differ?": designs when a design-bias model is shown."""
    by_disease = tables.get("exnex_by_disease")
    average = tables.get("model_average")
    designs = (by_disease is not None and "design_bias_mean" in by_disease.columns) or (
        average is not None and "model" in average.columns and (average["model"].astype(str) == "design_bias").any())
    return f"Does it matter that diseases{' and designs' if designs else ''} differ?"


def pooling_section(tables: Mapping[str, pd.DataFrame], measure: str | None) -> str:
    """The HTML of the section (without its heading); '' when the outcome has no pooling tables.

    Parameters
    ----------
    tables : mapping name -> DataFrame
        The outcome's extra tables (``exnex_by_disease``, ``model_average``; either may be missing).
    measure : str or None
        The analysis's measure (back-transform and scale words).
    """
    if not has_pooling(tables):
        return ""
    by_disease = tables.get("exnex_by_disease")
    average = tables.get("model_average")
    parts = []
    heads = averaged_headlines(average, measure) if average is not None else []
    if heads:
        parts.append('<p class="headline averaged">' + "<br>".join(escape(h[0].upper() + h[1:]) for h in heads) + "</p>")
    spread = spread_sentence(average, measure) if average is not None else ""
    if spread:
        parts.append(f"<p>{escape(spread)}</p>")
    if by_disease is not None and len(by_disease):
        sentences = shift_sentences(by_disease, measure)
        if sentences:
            parts.append("<p>" + " ".join(escape(s) for s in sentences) + "</p>")
        plain = any(p not in _NOT_PLAIN for p in estimate_prefixes(by_disease))
        parts.append(f"<h4>Each disease {'with and without' if plain else 'under'} EXNEX</h4>")
        parts.append("<p>EXNEX (Neuenschwander et al. 2016): each disease is exchangeable with the others with the "
                     "prior probability shown, otherwise it keeps its own weakly informative prior; a posterior "
                     "probability well below the prior marks a disease unlike the others.</p>")
        parts.append(_by_disease_html(by_disease, measure))
    if average is not None and len(average):
        flags = sensitivity_sentences(average)
        for text in flags:
            parts.append(f'<p class="flag">{escape(text)}</p>')
        parts.append("<h4>Model weights</h4>")
        parts.append(_weights_html(average, measure))
        cells = [str(n).strip() for n in average.get("note", pd.Series(dtype=object)).dropna() if str(n).strip()]
        if cells:  # as written: a note may itself contain '; '
            parts.append(f'<p class="muted">Notes from the model averaging: {escape("; ".join(cells))}.</p>')
    return "".join(parts)
