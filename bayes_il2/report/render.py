"""Render analysis folders into one HTML page: an overview to read at a glance, then every detail.

Layout: a sticky table of contents down to each outcome; an overview with one line per question
(headline on the natural scale and a PASS/WARN/FAIL badge; the verdict and caveats one click away in
``<details>``); per analysis a caveat box generated from the data, then per outcome the data, model and
priors (in words and formulae), results with their scale, diagnostics and figures. Anchor ids are
``<analysis slug>--<outcome slug>[--<section>]``, unique on the page.

Figures are embedded (the PNG as written; downscaled only when wider than :data:`EMBED_MAX_WIDTH`)
while the page stays within :data:`EMBED_BUDGET_BYTES`; beyond it they are linked by a relative path
into the results folder, so the page works offline and stays small. All text from files is escaped with :func:`html.escape`; the page loads nothing from the
network. The skeleton and CSS live in ``bayes_il2/templates/report.html`` (a ``string.Template``).
"""
from __future__ import annotations

import base64
import datetime as _dt
import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from bayes_il2.report.classical import classical_section
from bayes_il2._io import slug
from bayes_il2.report.caveats import caveat_html, caveats, family_levels
from bayes_il2.report.collect import FIGURE_CAPTIONS, AnalysisFolder, OutcomeFolder
from bayes_il2.report.pooling import TABLES as POOLING_TABLES
from bayes_il2.report.pooling import averaged_headlines, has_pooling, pooling_section, pooling_title
from bayes_il2.report.describe import (NATURAL_WORDS, data_words, model_formula, model_words, outcome_words,
                                       priors_list)

#: Figures wider than this (pixels) are downscaled for embedding; the full file stays on disk. The
#: results folder's figures (150 dpi, :data:`bayes_il2.plots.io.PAGE_DPI`; the widest, a forest plot
#: of many studies, about 2,500) are narrower and are embedded as the bytes written, without
#: decoding and re-encoding them (at 2,000 the run's report re-encoded eleven forest plots for a
#: 3-20 % reduction in width: 1.7 of its 4 s, on the run's serial tail; issue #19).
EMBED_MAX_WIDTH = 3200
#: Bytes of embedded figures (base64) a page may hold; further figures are linked, not embedded.
EMBED_BUDGET_BYTES = 1_500_000
#: Definition of the forest plot's weight column, shown under every forest plot.
WEIGHT_DEFINITION = ("Weight: each study's share (%) of the random-effects inverse-variance weights "
                     "1/(v_i + τ²), with τ at its posterior median (1/v_i without a fit); it says how much a "
                     "study pulls the pooled mean, not how good the study is.")
STATUS_CLASS = {"pass": "pass", "warn": "warn", "fail": "fail", "error": "fail", "missing": "fail"}
LOCATION_PARAMS = ("mu", "theta", "theta_new", "mu_disease", "theta_new_disease", "mu_new_disease")
STUDY_LEVEL = ("theta", "alpha", "theta_z", "alpha_z", "study_effect", "arm_effect")


@dataclass(frozen=True)
class PageContext:
    """What the footer needs beyond the analyses."""

    registry_version: str | None = None
    seconds: float | None = None
    generated: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    sources: pd.DataFrame | None = None
    studies: pd.DataFrame | None = None
    title: str = "bayes_il2: Bayesian evidence synthesis of low-dose IL-2"


# --------------------------------------------------------------------------- small pieces
def fmt_value(value: Any) -> str:
    """A table cell: numbers with 3 decimals (integers and large values without), text escaped."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == 0:
            return "0"
        if x.is_integer() and abs(x) < 1e6:
            return str(int(x))
        if abs(x) >= 1000:
            return f"{x:.0f}"
        if abs(x) < 0.001:
            return f"{x:.2e}"
        return f"{x:.3f}"
    if pd.isna(value) if not isinstance(value, (list, tuple, dict)) else False:
        return ""
    return escape(str(value))


def html_table(df: pd.DataFrame, columns: Sequence[tuple[str, str]] | None = None, *,
               cell: Callable[[str, Any, pd.Series], str] | None = None, css: str = "data",
               max_rows: int | None = None) -> str:
    """An escaped HTML table. ``columns`` are (column, header) pairs; ``cell`` may override a cell's HTML."""
    if df is None or len(df.columns) == 0:
        return '<p class="muted">(no rows)</p>'
    columns = list(columns) if columns is not None else [(c, str(c)) for c in df.columns]
    columns = [(c, h) for c, h in columns if c in df.columns or cell is not None]
    head = "".join(f"<th>{escape(h)}</th>" for _, h in columns)
    rows = []
    shown = df if max_rows is None else df.head(max_rows)
    for _, row in shown.iterrows():
        cells = []
        for col, _ in columns:
            value = row.get(col)
            html = cell(col, value, row) if cell is not None else None
            cells.append(f"<td>{fmt_value(value) if html is None else html}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if max_rows is not None and len(df) > max_rows:
        more = f'<p class="muted">{len(df) - max_rows} more rows in the CSV file.</p>'
    if not rows:
        return '<p class="muted">(no rows)</p>'
    return (f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{more}')


def embed_png(path: Path, max_width: int = EMBED_MAX_WIDTH) -> tuple[str, int | None]:
    """``data:`` URI of a PNG, downscaled to ``max_width`` pixels when wider (Pillow, via matplotlib),
    and its display width in CSS pixels (the figure's size in inches at 96 px per inch; None if unknown).
    """
    data = path.read_bytes()
    css_width = None
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            dpi = img.info.get("dpi")
            if dpi and float(dpi[0]) > 0:
                css_width = round(img.width / float(dpi[0]) * 96)
            if img.width > max_width:
                height = round(img.height * max_width / img.width)
                # reducing_gap: a fast integer box reduction first, Lanczos for the last factor < 2
                small = img.convert("RGB").resize((max_width, height), Image.LANCZOS, reducing_gap=2.0)
                buffer = io.BytesIO()
                small.save(buffer, format="PNG", compress_level=6)
                data = buffer.getvalue()
    except Exception:  # noqa: BLE001 - embed the original bytes when Pillow cannot read them
        pass
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii"), css_width


def anchor(*parts: str) -> str:
    """A page-unique id: slugs of analysis, outcome and section joined by ``--``."""
    return "--".join(slug(str(p)) for p in parts if p)


def outcome_anchor(analysis: AnalysisFolder, outcome: OutcomeFolder, section: str = "") -> str:
    return anchor(analysis.name, outcome.label, section)


@dataclass
class FigureBudget:
    """Bytes still free for embedded figures on the page (mutable: one per rendered page)."""

    left: int = EMBED_BUDGET_BYTES


def _badge(status: str) -> str:
    return f'<span class="badge {STATUS_CLASS.get(status, "warn")}">{escape(status.upper())}</span>'


def _natural(measure: str | None) -> Callable[[Any], Any]:
    from bayes_il2.effects import natural_scale

    return natural_scale(measure) if measure else (lambda x: x)


def _measure(analysis: AnalysisFolder, outcome: OutcomeFolder) -> str | None:
    if outcome.fit_meta.get("measure"):
        return str(outcome.fit_meta["measure"])
    if "measure" in outcome.effects.columns and outcome.effects["measure"].notna().any():
        return str(outcome.effects["measure"].dropna().iloc[0])
    return (analysis.spec.get("data") or {}).get("measure")


# --------------------------------------------------------------------------- headline
def outcome_headline(analysis: AnalysisFolder, outcome) -> str:
    """The pooled estimate on the natural scale in words (from the summary table), else the pipeline's
    own headline (run.json), e.g. for reanalyses. A result resting on what the data cannot identify
    keeps the pipeline's opening words ("k = 1, no pooling: ", "tau split not identified: ")."""
    natural = natural_headline(analysis, outcome)
    if natural:
        from bayes_il2.modeling.identifiability import headline_prefix

        caveats = ((getattr(outcome, "fit_meta", None) or {}).get("settings") or {}).get("caveats") or []
        return headline_prefix(caveats) + natural
    return analysis.headlines.get(outcome.label) or headline(outcome.summary)


def natural_headline(analysis: AnalysisFolder, outcome) -> str:
    """"pooled ratio of means, post/pre 3.17 (95% CrI 2.10 to 4.50)" from a posterior summary table."""
    summary = outcome.summary
    if summary is None or not {"parameter", "median", "eti_low", "eti_high"} <= set(summary.columns):
        return ""
    from bayes_il2.plots.direction import reading_hint

    measure = _measure(analysis, outcome)
    for name in ("p_pooled", "mu"):
        rows = summary[summary["parameter"] == name]
        if len(rows):
            r = rows.iloc[0]
            what = "pooled proportion" if name == "p_pooled" else (
                "pooled " + NATURAL_WORDS.get(str(measure), str(measure or "mean")))
            try:
                hint = reading_hint(measure, outcome.label, float(r["eti_low"]), float(r["eti_high"]))
            except (TypeError, ValueError):
                hint = ""
            return (f"{what} {_short(r['median'])} (95% CrI {_short(r['eti_low'])} to {_short(r['eti_high'])})"
                    + (f"; {hint}" if hint else ""))
    return ""


def _short(x: Any) -> str:
    try:
        return f"{float(x):.3g}"
    except (TypeError, ValueError):
        return str(x)


def headline(summary: pd.DataFrame) -> str:
    """Pooled estimate (natural scale) with its 95% credible interval, from a summary table."""
    if summary is None or "parameter" not in summary.columns or "median" not in summary.columns:
        return ""
    for name in ("p_pooled", "mu"):
        rows = summary[summary["parameter"] == name]
        if len(rows):
            r = rows.iloc[0]
            low, high = r.get("eti_low"), r.get("eti_high")
            return f"{name} = {fmt_value(r['median'])} [95% CrI {fmt_value(low)}, {fmt_value(high)}]"
    return ""


def scale_note(text: str) -> str:
    """The scale line every table carries (``text`` is HTML)."""
    return f'<p class="scale">Scale: {text}</p>'


# --------------------------------------------------------------------------- sections
def _source_links(ctx: PageContext) -> Callable[[str, str | None], str]:
    """Function (study_id, source_id) -> HTML link(s) to the study's source."""
    sources = ctx.sources
    studies = ctx.studies
    by_source: dict[str, dict] = {}
    if sources is not None and "source_id" in sources.columns:
        by_source = {str(r["source_id"]): r for r in sources.to_dict("records")}
    study_source: dict[str, str] = {}
    if studies is not None and {"study_id", "source_id"} <= set(studies.columns):
        study_source = {str(study): str(source) for study, source in zip(studies["study_id"], studies["source_id"])
                        if not pd.isna(source)}

    def link(study_id: str, source_id: str | None) -> str:
        sid = source_id if source_id and not pd.isna(source_id) else study_source.get(str(study_id).split(":")[0])
        if not sid:
            return ""
        row = by_source.get(str(sid))
        if row is None:
            return escape(str(sid))
        href = None
        for col, prefix in (("doi", "https://doi.org/"), ("url", ""), ("pmid", "https://pubmed.ncbi.nlm.nih.gov/"),
                            ("pmcid", "https://www.ncbi.nlm.nih.gov/pmc/articles/")):
            value = row.get(col)
            if value is not None and not pd.isna(value) and str(value).strip():
                value = str(value).strip()
                if col == "doi" and value.lower().startswith("http"):
                    prefix = ""
                if col == "pmid" and value.endswith(".0"):
                    value = value[:-2]
                href = prefix + value
                break
        authors = row.get("authors")
        year = row.get("year")
        text = str(sid)
        if authors is not None and not pd.isna(authors) and str(authors).strip():
            first = str(authors).split(",")[0].split(";")[0].strip()
            text = f"{first}{' et al.' if (',' in str(authors) or ';' in str(authors)) else ''}"
            if year is not None and not pd.isna(year):
                text += f" {int(float(year))}"
        if href is None or not href.lower().startswith(("http://", "https://")):
            return escape(text)
        return f'<a href="{escape(href, quote=True)}" rel="noopener">{escape(text)}</a>'

    return link


def data_section(analysis: AnalysisFolder, outcome: OutcomeFolder, ctx: PageContext) -> str:
    """Studies used (with links to sources), effects on the natural scale, and excluded rows."""
    effects = outcome.effects
    measure = _measure(analysis, outcome)
    parts = [data_words(analysis.spec)]
    if len(effects):
        table = effects.copy()
        if {"yi", "vi"} <= set(table.columns):
            nat = _natural(measure)
            yi = pd.to_numeric(table["yi"], errors="coerce").to_numpy(float)
            se = np.sqrt(pd.to_numeric(table["vi"], errors="coerce").to_numpy(float))
            with np.errstate(all="ignore"):
                table["_est"] = nat(yi)
                table["_ci"] = [f"[{fmt_value(lo)}, {fmt_value(hi)}]"
                                for lo, hi in zip(nat(yi - 1.959964 * se), nat(yi + 1.959964 * se))]
        link = _source_links(ctx)
        candidates = [("study_id", "Study"), ("label", "Label"), ("arm_id", "Arm"), ("disease", "Disease"),
                      ("design", "Design"), ("n", "n"), ("n_total", "n"), ("dose_miu", "Dose (MIU)"),
                      ("treatment_weeks", "Weeks"), ("events_t", "Events (IL-2)"), ("n_t", "n (IL-2)"),
                      ("events_c", "Events (control)"), ("n_c", "n (control)"), ("events", "Events"),
                      ("_est", f"Effect ({NATURAL_WORDS.get(str(measure), measure or 'as given')})"),
                      ("_ci", "95% CI"),
                      ("method", "Method"), ("consistency_flag", "Consistency flag"), ("_source", "Source")]
        seen: set[str] = set()
        columns = []
        if "label" in table.columns and (table["label"].astype(str) == table["study_id"].astype(str)).all():
            seen.add("Label")  # the label repeats the id
        for col, head in candidates:
            if col in table.columns and col != "_ci" and table[col].isna().all():
                continue  # a column nobody reported
            if (col in table.columns or col == "_source") and head not in seen:
                columns.append((col, head))
                seen.add(head)
        table["_source"] = ""

        def cell(col: str, value: Any, row: pd.Series) -> str | None:
            if col == "_source":
                return link(str(row.get("study_id", "")), row.get("source_id"))
            if col == "_ci":
                return str(value)  # built from formatted numbers
            return None

        parts.append(f"<p>{len(effects)} {'study' if len(effects) == 1 else 'studies/arms'} "
                     f"entered the model.</p>")
        parts.append(scale_note(f"effects and 95% confidence intervals on the natural scale "
                                f"({escape(NATURAL_WORDS.get(str(measure), str(measure or 'as given')))}; "
                                "the model works on the " + escape(str(measure or "given")) + " scale)."))
        parts.append(html_table(table, columns, cell=cell))
        if "skewed" in table.columns:
            flagged = table.loc[table["skewed"].astype(str).str.lower() == "true", "study_id"].astype(str)
            if len(flagged):
                parts.append(f"<p>Converted from a median summary that the skewness test of Shi et al. (2023) "
                             f"calls skewed, with the normal-theory estimators: {escape(', '.join(flagged))}. "
                             "The spec's <code>[data] skewed</code> option excludes such values or converts "
                             "them as log-normal.</p>")
    else:
        parts.append('<p class="muted">No study had usable data.</p>')
    if len(outcome.excluded):
        parts.append(f"<details><summary>{len(outcome.excluded)} rows excluded (with reasons)</summary>"
                     f"{html_table(outcome.excluded)}</details>")
    return "".join(parts)


def model_section(analysis: AnalysisFolder, outcome: OutcomeFolder) -> str:
    """Model and priors in words and formula, and the sampler settings."""
    spec = analysis.spec
    model = spec.get("model") or {}
    family = str(outcome.fit_meta.get("family") or model.get("family") or "nnhm")
    covariates = list(model.get("covariates") or outcome.fit_meta.get("settings", {}).get("covariates") or [])
    measure = _measure(analysis, outcome)
    parts = [model_words(family, measure, covariates), model_formula(family, covariates)]
    priors = outcome.fit_meta.get("priors") or spec.get("priors") or {}  # the fit's own: defaults included
    chosen = (outcome.fit_meta.get("settings") or {}).get("default_priors")
    prior_note = (f'<p class="muted">How the defaults were chosen: {escape(str(chosen))}. Give priors in the spec '
                  "(<code>[priors]</code>) or on the command line (<code>--tau-prior</code>, "
                  "<code>--mu-prior</code>) to choose others.</p>") if chosen else ""
    if family == "reanalysis" and spec.get("reanalysis"):
        re = spec["reanalysis"]
        parts.append("<p>Priors: " + escape(", ".join(map(str, re.get("priors", [])))) + "; clinically important "
                     f"odds ratio {escape(str(re.get('clinically_important_or', '')))}; robust mixture weight "
                     f"{escape(str(re.get('robust_weight', '')))}; MAP prior from "
                     f"{escape(', '.join(map(str, re.get('map_studies', []))) or 'the registry trials')}.</p>")
    else:
        parts.append("<h4>Priors</h4>" + priors_list(priors, prior_note))
    fm = outcome.fit_meta
    sampler = dict(spec.get("sampler") or {})
    settings = fm.get("settings") or {}
    facts = []
    if fm:
        facts += [("sampler", fm.get("sampler")), ("seed", fm.get("seed")),
                  ("chains", settings.get("chains", sampler.get("chains"))),
                  ("draws per chain", settings.get("draws", sampler.get("draws"))),
                  ("tuning steps", settings.get("tune", sampler.get("tune"))),
                  ("target acceptance", settings.get("target_accept", sampler.get("target_accept"))),
                  ("parameterization", settings.get("parameterization")),
                  ("data sha256", str(fm.get("data_fingerprint", ""))[:16])]
    elif sampler:
        facts += [(k, v) for k, v in sampler.items()]
    facts = [(k, v) for k, v in facts if v is not None and v != ""]
    if facts:
        parts.append("<h4>Computation</h4><ul class=\"facts\">" + "".join(
            f"<li>{escape(str(k))}: <code>{escape(str(v))}</code></li>" for k, v in facts) + "</ul>")
    return "".join(parts)


def summary_section(analysis: AnalysisFolder, outcome: OutcomeFolder) -> str:
    """The posterior summary on the natural scale (study-level rows folded away), each row with its scale."""
    summary = outcome.summary
    if summary is None or len(summary) == 0:
        return '<p class="muted">No summary table.</p>'
    if not {"parameter", "median", "eti_low", "eti_high"} <= set(summary.columns):
        return scale_note("as reported by the reanalysis (odds ratios and differences on their natural scale; "
                          "probabilities between 0 and 1)") + html_table(summary)
    measure = _measure(analysis, outcome)
    natural = NATURAL_WORDS.get(str(measure), str(measure or "model scale"))
    table = summary.copy()
    table["label"] = [p if (pd.isna(c) or str(c) == "") else f"{p}[{c}]"
                      for p, c in zip(table["parameter"], table.get("coord", pd.Series([""] * len(table))))]
    table["ci"] = [f"[{fmt_value(lo)}, {fmt_value(hi)}]" for lo, hi in zip(table["eti_low"], table["eti_high"])]
    location = table["parameter"].isin(LOCATION_PARAMS + ("p_pooled", "p_new", "p_disease"))
    table["scale"] = np.where(location, f"natural ({natural})", f"model ({measure})" if measure else "model")
    table.loc[table["parameter"] == "i2", "scale"] = "proportion (0 to 1)"
    columns = [("label", "Parameter"), ("scale", "Scale"), ("median", "Median"), ("ci", "95% CrI"),
               ("mean", "Mean"), ("sd", "SD"), ("r_hat", "R-hat"), ("ess_bulk", "ESS bulk"), ("ess_tail", "ESS tail")]

    def cell(col: str, value: Any, row: pd.Series) -> str | None:
        if col == "ci":
            return str(value)
        if col.startswith("ess_") and value is not None and np.isfinite(value):
            return f"{float(value):.0f}"
        return None

    study = table["parameter"].isin(STUDY_LEVEL) | table["parameter"].astype(str).str.endswith("_z")
    shown = ", ".join(p for p in LOCATION_PARAMS if p in set(table["parameter"]))
    note = scale_note(f"location parameters ({escape(shown)}) on the natural scale ({escape(natural)}); standard "
                      f"deviations (tau) on the model scale ({escape(str(measure))}); 95% CrI: equal-tailed "
                      "credible interval.")
    parts = [note, html_table(table[~study], columns, cell=cell)]
    if study.any():
        parts.append(f"<details><summary>Study-level parameters ({int(study.sum())} rows)</summary>"
                     f"{html_table(table[study], columns, cell=cell)}</details>")
    return "".join(parts)


#: The scale of each diagnostics table, as the report states it.
DIAGNOSTIC_SCALES = {
    "convergence": "model scale (R-hat, ESS and MCSE of each parameter as sampled; an exact fit: its "
                   "independent draws' count, mean, sd and MCSE of the mean)",
    "predictive": "observed values and predictive intervals on the model scale (counts for binomial models)",
    "loo": "log predictive density (elpd) and Pareto k per study (an exact fit: exact elpd, no Pareto k)",
    "influence": "model scale (mu and tau refitted without each study)",
    "tau_prior_grid": "model scale (mu and tau under each heterogeneity prior)",
    "power_scaling": "sensitivity index of each parameter (0 = insensitive)",
    "model_comparison": "log predictive density (elpd) per model",
}


def diagnostics_section(outcome: OutcomeFolder) -> str:
    """Verdict, every check with its hint, LOO and notes."""
    diag = outcome.diagnostics
    if not diag:
        return '<p class="muted">No MCMC diagnostics (closed-form, exact or summary-level analysis).</p>'
    status = str(diag.get("status", "warn"))
    parts = [f'<p class="verdict">{_badge(status)} {escape(str(diag.get("verdict", "")))}</p>']
    checks = pd.DataFrame(diag.get("checks", []))
    if len(checks):
        def cell(col: str, value: Any, row: pd.Series) -> str | None:
            if col == "status":
                return _badge(str(value))
            return None

        parts.append(scale_note("each check in its own units (R-hat ratio, effective draws, counts, Pareto k)"))
        parts.append(html_table(checks, [("name", "Check"), ("status", "Status"), ("value", "Value"),
                                         ("threshold", "Threshold"), ("message", "Result"),
                                         ("hint", "What to do")], cell=cell))
    loo = diag.get("loo_elpd") or {}
    if loo:
        parts.append("<p>PSIS-LOO: " + ", ".join(f"{escape(str(k))} = {fmt_value(v)}" for k, v in loo.items()) + "</p>")
    for note in diag.get("notes", []):
        parts.append(f'<p class="muted">Note: {escape(str(note))}</p>')
    tables = diag.get("tables") or {}
    for name in ("convergence", "predictive", "loo", "influence", "tau_prior_grid", "power_scaling",
                 "model_comparison"):
        raw = tables.get(name)
        if not raw:
            continue
        try:
            frame = pd.DataFrame(raw.get("data", []), columns=raw.get("columns"))
        except (ValueError, TypeError):
            continue
        parts.append(f"<details><summary>Diagnostics table: {escape(name)} ({len(frame)} rows)</summary>"
                     f"{scale_note(DIAGNOSTIC_SCALES.get(name, 'the model scale'))}{html_table(frame)}</details>")
    return "".join(parts)


def _relative(path: Path, base: Path | None) -> str | None:
    if base is None:
        return None
    try:
        return os.path.relpath(path, base).replace(os.sep, "/")
    except ValueError:
        return None


def figure_source(path: Path, base: Path | None, budget: FigureBudget) -> tuple[str, int | None, bool]:
    """(src, css width, embedded?) of a figure: a ``data:`` URI while the budget lasts, else a relative link."""
    rel = _relative(path, base)
    try:
        src, css_width = embed_png(path)
    except OSError:
        return (rel or "", None, False)
    if len(src) <= budget.left or rel is None:
        budget.left -= len(src)
        return src, css_width, True
    return rel, css_width, False


def figures_section(analysis: AnalysisFolder, outcome: OutcomeFolder, base: Path | None,
                    budget: FigureBudget | None = None) -> str:
    """Every figure with a caption (the forest plot's defines its weight column) and a link to the file."""
    if not outcome.figures:
        return '<p class="muted">No figures.</p>'
    budget = budget if budget is not None else FigureBudget()
    title = f"{analysis.title}: {outcome_words(outcome.label)}" if len(analysis.outcomes) > 1 else analysis.title
    parts = []
    for name, path in outcome.figures:
        caption = FIGURE_CAPTIONS.get(name, name.replace("_", " "))
        if name in ("forest", "forest_by_design"):
            caption += " " + WEIGHT_DEFINITION
        src, css_width, embedded = figure_source(path, base, budget)
        if not src:
            continue
        style = f' style="width: {css_width}px"' if css_width else ""
        rel = _relative(path, base)
        link = f' <a href="{escape(rel, quote=True)}">full resolution</a>' if rel else ""
        heading = f"{name.replace('_', ' ').capitalize()} · {title}"
        parts.append(f'<figure id="{escape(outcome_anchor(analysis, outcome, "fig-" + name), quote=True)}">'
                     f'<img src="{src if embedded else escape(src, quote=True)}"{style} loading="lazy" '
                     f'alt="{escape(heading + ". " + caption, quote=True)}">'
                     f"<figcaption><b>{escape(heading)}.</b> {escape(caption)}{link}</figcaption></figure>")
    return "".join(parts)


def _family(analysis: AnalysisFolder) -> str | None:
    """The spec's model family, or "meta_regression" when it has covariates (for the classical comparison)."""
    model = analysis.spec.get("model") or {}
    return "meta_regression" if model.get("covariates") else model.get("family")


def extra_section(analysis: AnalysisFolder, outcome: OutcomeFolder) -> str:
    """Extra tables (e.g. the sensitivity analyses), each with its scale; mu is back-transformed."""
    parts = []
    measure = _measure(analysis, outcome)
    natural = NATURAL_WORDS.get(str(measure), str(measure or ""))
    for name, table in outcome.extra_tables.items():
        if name in ("summary", "classical") or name in POOLING_TABLES:  # shown in their own sections
            continue
        shown = table
        note = scale_note("as computed (see the column names)")
        if {"mu_mean", "mu_low", "mu_high"} <= set(table.columns):
            shown = natural_sensitivity(table, measure)
            note = scale_note(f"μ on the natural scale ({escape(natural)}): the back-transformed posterior mean of "
                              f"the model-scale μ with its 95% CrI; τ on the model scale ({escape(str(measure))}).")
        parts.append(f"<h4>{escape(name.replace('_', ' ').capitalize())}</h4>{note}{html_table(shown)}")
    return "".join(parts)


def natural_sensitivity(table: pd.DataFrame, measure: str | None) -> pd.DataFrame:
    """A sensitivity table with mu on the natural scale under self-explaining column names."""
    nat = _natural(measure)
    out = table.copy()
    for col in ("mu_mean", "mu_low", "mu_high"):
        with np.errstate(all="ignore"):
            out[col] = nat(pd.to_numeric(out[col], errors="coerce").to_numpy(float))
    if "value" in out.columns and "scenario" in out.columns:
        out["value"] = [_prior_in_words(v) for v in out["value"]]
    return out.rename(columns={"mu_mean": "μ (natural)", "mu_low": "μ 95% CrI low", "mu_high": "μ 95% CrI high",
                               "tau_median": "τ median (model scale)"})


def _prior_in_words(value: Any) -> Any:
    """A prior written as code in a table cell (``HalfNormal(scale=0.5)``) in words; other values as given."""
    from bayes_il2.report.describe import prior_object, prior_words

    if not isinstance(value, str) or "(" not in value:
        return value
    prior = prior_object(value)
    if prior is None:
        return value
    return "τ prior: " + prior_words("τ", prior)[0]


def caveat_box(analysis: AnalysisFolder, outcome: OutcomeFolder, ctx: PageContext) -> str:
    """The caveat box of one outcome (generated from its data)."""
    family = str(outcome.fit_meta.get("family") or (analysis.spec.get("model") or {}).get("family") or "")
    return caveat_html(caveats(outcome.effects, family, ctx.studies, family_levels(outcome.fit_meta)))


def analysis_section(analysis: AnalysisFolder, ctx: PageContext, base: Path | None,
                     budget: FigureBudget | None = None) -> str:
    """One analysis: question, then per outcome headline, caveats, data, model, results, diagnostics, figures."""
    budget = budget if budget is not None else FigureBudget()
    head = (f'<section class="analysis" id="{escape(anchor(analysis.name), quote=True)}">'
            f"<h2>{escape(analysis.title)} {_badge(analysis.status)}</h2>"
            f'<p class="muted">analysis <code>{escape(analysis.name)}</code>'
            + (f" · spec <code>{escape(str(analysis.spec_path))}</code>" if analysis.spec_path else "")
            + (f" · {analysis.seconds:.1f} s" if analysis.seconds is not None else "") + "</p>")
    if analysis.missing:
        return head + f'<p class="muted">{escape(analysis.verdict)}</p></section>'
    parts = [head, f'<p class="question"><b>Question.</b> {escape(analysis.question or analysis.title)}</p>']
    multi = len(analysis.outcomes) > 1
    for outcome in analysis.outcomes:
        words = outcome_words(outcome.label)
        prefix = f"{words}: " if multi else ""
        parts.append(f'<div class="outcome" id="{escape(outcome_anchor(analysis, outcome), quote=True)}">')
        if multi:
            parts.append(f'<h3 class="outcome">Outcome: {escape(words)} <code>{escape(outcome.label)}</code></h3>')
        headline_text = outcome_headline(analysis, outcome)
        if headline_text:
            parts.append(f'<p class="headline">{escape(prefix + headline_text)}</p>')
        averaged = averaged_headlines(outcome.extra_tables.get("model_average"), _measure(analysis, outcome))
        if averaged:  # the answer without choosing one pooling structure, beside the main one
            parts.append('<p class="headline averaged">' + "<br>".join(
                f'<a href="#{escape(outcome_anchor(analysis, outcome, "pooling"), quote=True)}">'
                f"{escape(prefix + line[0].upper() + line[1:])}</a>" for line in averaged) + "</p>")
        parts.append(caveat_box(analysis, outcome, ctx))
        for note in analysis.notes.get(outcome.label, []):
            parts.append(f'<p class="muted">Note: {escape(note)}</p>')
        sections = [("data", "Data used", data_section(analysis, outcome, ctx)),
                    ("model", "Model and priors", model_section(analysis, outcome)),
                    ("results", "Results", summary_section(analysis, outcome)
                     + classical_section(outcome.extra_tables.get("classical"), outcome.summary,
                                         _measure(analysis, outcome), _family(analysis))
                     + extra_section(analysis, outcome)),
                    ("pooling", pooling_title(outcome.extra_tables),
                     pooling_section(outcome.extra_tables, _measure(analysis, outcome))),
                    ("diagnostics", "Diagnostics", diagnostics_section(outcome)),
                    ("figures", "Figures", figures_section(analysis, outcome, base, budget))]
        for key, title, html in sections:
            if key == "pooling" and not html:
                continue
            parts.append(f'<h3 id="{escape(outcome_anchor(analysis, outcome, key), quote=True)}">'
                         f"{escape(prefix + title)}</h3>{html}")
        files = sorted(p.name for p in outcome.path.glob("*.csv")) if outcome.path.is_dir() else []
        rel = _relative(outcome.path, base)
        if files and rel is not None:
            parts.append('<p class="muted">Tables as CSV: ' + ", ".join(
                f'<a href="{escape(rel + "/" + f, quote=True)}">{escape(f)}</a>' for f in files) + "</p>")
        parts.append("</div>")
    from bayes_il2.report.analysis_tables import analysis_tables_section

    parts.append(analysis_tables_section(analysis))
    parts.append("</section>")
    return "".join(parts)


def _outcome_status(analysis: AnalysisFolder, outcome: OutcomeFolder) -> str:
    if outcome.diagnostics and outcome.diagnostics.get("status"):
        return str(outcome.diagnostics["status"])
    return analysis.status


def overview(analyses: Sequence[AnalysisFolder], ctx: PageContext | None = None) -> str:
    """One line per question (analysis x outcome): badge, question, headline; the verdict and the
    caveats one click away."""
    ctx = ctx or PageContext()
    lines = []
    for a in analyses:
        if a.missing or not a.outcomes:
            lines.append(f'<details class="line"><summary>{_badge(a.status)} '
                         f'<a href="#{escape(anchor(a.name), quote=True)}">{escape(a.title)}</a>: '
                         f'<span class="muted">no results</span></summary><p>{escape(a.verdict)}</p></details>')
            continue
        multi = len(a.outcomes) > 1
        if multi:  # the analysis once, then one short line per outcome
            lines.append(f'<p class="group"><a href="#{escape(anchor(a.name), quote=True)}">{escape(a.title)}</a></p>')
        for o in a.outcomes:
            status = _outcome_status(a, o)
            question = outcome_words(o.label) if multi else a.title
            head = outcome_headline(a, o) or "no pooled estimate"
            verdict = (o.diagnostics or {}).get("verdict") or a.verdict
            cls = "line sub" if multi else "line"
            lines.append(f'<details class="{cls}"><summary>{_badge(status)} '
                         f'<a href="#{escape(outcome_anchor(a, o), quote=True)}">{escape(question)}</a>: '
                         f'<span class="head">{escape(head)}</span></summary>'
                         f'<p class="muted">Diagnostics: {escape(str(verdict))}</p>'
                         + "".join(f"<p>{escape(line[0].upper() + line[1:])}</p>" for line in
                                   averaged_headlines(o.extra_tables.get("model_average"), _measure(a, o)))
                         + f"{caveat_box(a, o, ctx)}</details>")
    return '<div class="overview">' + "".join(lines) + "</div>"


def toc(analyses: Sequence[AnalysisFolder]) -> str:
    """The table of contents down to each outcome."""
    items = ['<li><a href="#overview">Overview</a></li>']
    for a in analyses:
        sub = ""
        if not a.missing and len(a.outcomes) > 1:
            sub = "<ul>" + "".join(f'<li><a href="#{escape(outcome_anchor(a, o), quote=True)}">'
                                   f"{escape(outcome_words(o.label))}</a></li>" for o in a.outcomes) + "</ul>"
        elif not a.missing and a.outcomes:
            o = a.outcomes[0]
            keys = [("results", "Results")] + ([("pooling", "Pooling assumptions")]
                                               if has_pooling(o.extra_tables) else [])
            sub = "<ul>" + "".join(f'<li><a href="#{escape(outcome_anchor(a, o, key), quote=True)}">{title}</a></li>'
                                   for key, title in keys + [("diagnostics", "Diagnostics"),
                                                             ("figures", "Figures")]) + "</ul>"
        items.append(f'<li>{_badge(a.status)} <a href="#{escape(anchor(a.name), quote=True)}">'
                     f"{escape(a.title)}</a>{sub}</li>")
    items.append('<li><a href="#reproducibility">Reproducibility</a></li>')
    return '<nav class="toc" aria-label="Contents"><b>Contents</b><ul>' + "".join(items) + "</ul></nav>"


def footer(analyses: Sequence[AnalysisFolder], ctx: PageContext) -> str:
    """Software versions, seeds, registry version and run time."""
    from bayes_il2.fit import software_versions

    versions: dict[str, str] = {}
    seeds = []
    for a in analyses:
        for o in a.outcomes:
            versions.update(o.fit_meta.get("versions") or {})
            seed = o.fit_meta.get("seed", (a.spec.get("sampler") or {}).get("seed"))
            if seed is not None:
                seeds.append(f"{a.name}{'/' + o.label if len(a.outcomes) > 1 else ''}: {seed}")
    current = software_versions()
    for name, version in current.items():
        versions.setdefault(name, version)
    import platform

    versions.setdefault("python", platform.python_version())
    items = [
        "Software: " + ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in sorted(versions.items())),
        "Seeds: " + (escape("; ".join(seeds)) if seeds else "none recorded"),
        "Registry version (sha256): " + (f"<code>{escape(ctx.registry_version)}</code>" if ctx.registry_version
                                         else "not used (user data)"),
        "Run time: " + (f"{ctx.seconds:.1f} s" if ctx.seconds is not None else "not recorded")
        + f" · report generated {escape(ctx.generated)}",
    ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def template_text() -> str:
    """The page skeleton shipped in ``bayes_il2/templates/report.html``."""
    return resources.files("bayes_il2").joinpath("templates", "report.html").read_text(encoding="utf-8")


def render_page(analyses: Sequence[AnalysisFolder], ctx: PageContext | None = None,
                base: Path | None = None) -> str:
    """The whole HTML page.

    Parameters
    ----------
    analyses : the analysis folders, in page order
    ctx : registry version, run time, sources (for links)
    base : directory the page will be written to (for relative links to CSV files and figures)
    """
    ctx = ctx or PageContext()
    budget = FigureBudget()
    body = "".join(analysis_section(a, ctx, base, budget) for a in analyses)
    return Template(template_text()).substitute(
        title=escape(ctx.title), generated=escape(ctx.generated), overview=overview(analyses, ctx), body=body,
        footer=footer(analyses, ctx), count=str(len(analyses)), toc=toc(analyses))
