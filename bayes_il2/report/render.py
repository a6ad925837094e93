"""Render analysis folders into one self-contained HTML page (figures embedded as base64 PNG).

All text from files is escaped with :func:`html.escape`; the page loads nothing from the network.
The page skeleton and its CSS live in ``bayes_il2/templates/report.html`` (a ``string.Template``).
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
from bayes_il2.report.collect import FIGURE_CAPTIONS, AnalysisFolder, OutcomeFolder
from bayes_il2.report.describe import data_words, model_formula, model_words, priors_list

#: Figures wider than this (pixels) are downscaled for embedding; the full file stays on disk.
EMBED_MAX_WIDTH = 2000
STATUS_CLASS = {"pass": "pass", "warn": "warn", "fail": "fail", "error": "fail", "missing": "fail"}
LOCATION_PARAMS = ("mu", "theta", "theta_new", "mu_disease", "theta_new_disease", "mu_new_disease")
STUDY_LEVEL = ("theta", "alpha", "theta_z", "alpha_z")


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


def _anchor(name: str) -> str:
    return "a-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


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
    """The pipeline's own headline of an outcome (run.json), else one made from its summary table."""
    return analysis.headlines.get(outcome.label) or headline(outcome.summary)


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


# --------------------------------------------------------------------------- sections
def _source_links(ctx: PageContext) -> Callable[[str, str | None], str]:
    """Function (study_id, source_id) -> HTML link(s) to the study's source."""
    sources = ctx.sources
    studies = ctx.studies
    by_source: dict[str, pd.Series] = {}
    if sources is not None and "source_id" in sources.columns:
        by_source = {str(r["source_id"]): r for _, r in sources.iterrows()}
    study_source: dict[str, str] = {}
    if studies is not None and {"study_id", "source_id"} <= set(studies.columns):
        study_source = {str(r["study_id"]): str(r["source_id"]) for _, r in studies.iterrows()
                        if not pd.isna(r["source_id"])}

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
                      ("_est", f"Effect ({measure or 'natural scale'})"), ("_ci", "95% CI"),
                      ("method", "Method"), ("_source", "Source")]
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
    priors = spec.get("priors") or outcome.fit_meta.get("priors") or {}
    if family == "reanalysis" and spec.get("reanalysis"):
        re = spec["reanalysis"]
        parts.append("<p>Priors: " + escape(", ".join(map(str, re.get("priors", [])))) + "; clinically important "
                     f"odds ratio {escape(str(re.get('clinically_important_or', '')))}; robust mixture weight "
                     f"{escape(str(re.get('robust_weight', '')))}; MAP prior from "
                     f"{escape(', '.join(map(str, re.get('map_studies', []))) or 'the registry trials')}.</p>")
    else:
        parts.append("<h4>Priors</h4>" + priors_list(priors))
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
    """The posterior summary on the natural scale (study-level rows folded away)."""
    summary = outcome.summary
    if summary is None or len(summary) == 0:
        return '<p class="muted">No summary table.</p>'
    if not {"parameter", "median", "eti_low", "eti_high"} <= set(summary.columns):
        return html_table(summary)  # reanalysis and other tables: shown as written
    measure = _measure(analysis, outcome)
    table = summary.copy()
    table["label"] = [p if (pd.isna(c) or str(c) == "") else f"{p}[{c}]"
                      for p, c in zip(table["parameter"], table.get("coord", pd.Series([""] * len(table))))]
    table["ci"] = [f"[{fmt_value(lo)}, {fmt_value(hi)}]" for lo, hi in zip(table["eti_low"], table["eti_high"])]
    columns = [("label", "Parameter"), ("median", "Median"), ("ci", "95% CrI"), ("mean", "Mean"),
               ("sd", "SD"), ("r_hat", "R-hat"), ("ess_bulk", "ESS bulk"), ("ess_tail", "ESS tail")]

    def cell(col: str, value: Any, row: pd.Series) -> str | None:
        if col == "ci":
            return str(value)
        if col.startswith("ess_") and value is not None and np.isfinite(value):
            return f"{float(value):.0f}"
        return None

    study = table["parameter"].isin(STUDY_LEVEL) | table["parameter"].astype(str).str.endswith("_z")
    note = ("<p class=\"muted\">Location parameters (" + ", ".join(p for p in LOCATION_PARAMS if p in set(table["parameter"]))
            + f") on the natural scale of {escape(str(measure))}; standard deviations (tau) on the model scale; "
            "95% CrI: equal-tailed credible interval.</p>")
    parts = [note, html_table(table[~study], columns, cell=cell)]
    if study.any():
        parts.append(f"<details><summary>Study-level parameters ({int(study.sum())} rows)</summary>"
                     f"{html_table(table[study], columns, cell=cell)}</details>")
    return "".join(parts)


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
                     f"{html_table(frame)}</details>")
    return "".join(parts)


def _embed_many(paths: Sequence[Path]) -> list[tuple[str, int | None] | None]:
    """:func:`embed_png` of each path (None when unreadable), in threads: Pillow decodes, resizes
    and encodes outside the GIL, so the figures of a section are prepared in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    def one(path: Path) -> tuple[str, int | None] | None:
        try:
            return embed_png(path)
        except OSError:
            return None

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, paths))


def figures_section(outcome: OutcomeFolder, base: Path | None) -> str:
    """Every figure embedded, with a caption and a link to the full-resolution file."""
    if not outcome.figures:
        return '<p class="muted">No figures.</p>'
    parts = []
    for (name, path), embedded in zip(outcome.figures, _embed_many([p for _, p in outcome.figures])):
        caption = FIGURE_CAPTIONS.get(name, name.replace("_", " "))
        if embedded is None:
            continue
        src, css_width = embedded
        style = f' style="width: {css_width}px"' if css_width else ""
        link = ""
        if base is not None:
            try:
                rel = path.relative_to(base).as_posix()
                link = f' <a href="{escape(rel, quote=True)}">full resolution</a>'
            except ValueError:
                pass
        parts.append(f'<figure id="{escape(_anchor(str(outcome.path.name) + "-" + name), quote=True)}">'
                     f'<img src="{src}"{style} alt="{escape(caption, quote=True)}">'
                     f"<figcaption><b>{escape(name.replace('_', ' ').capitalize())}.</b> "
                     f"{escape(caption)}{link}</figcaption></figure>")
    return "".join(parts)


def _family(analysis: AnalysisFolder) -> str | None:
    """The spec's model family, or "meta_regression" when it has covariates (for the classical comparison)."""
    model = analysis.spec.get("model") or {}
    return "meta_regression" if model.get("covariates") else model.get("family")


def extra_section(outcome: OutcomeFolder) -> str:
    parts = []
    for name, table in outcome.extra_tables.items():
        if name in ("summary", "classical"):  # classical: its own section beside the Bayesian summary
            continue
        parts.append(f"<h4>{escape(name.replace('_', ' ').capitalize())}</h4>{html_table(table)}")
    return "".join(parts)


def analysis_section(analysis: AnalysisFolder, ctx: PageContext, base: Path | None) -> str:
    """One analysis: question, then per outcome data, model, results, diagnostics, figures."""
    anchor = _anchor(analysis.name)
    head = (f'<section class="analysis" id="{escape(anchor, quote=True)}">'
            f"<h2>{escape(analysis.title)} {_badge(analysis.status)}</h2>"
            f'<p class="muted">analysis <code>{escape(analysis.name)}</code>'
            + (f" · spec <code>{escape(str(analysis.spec_path))}</code>" if analysis.spec_path else "")
            + (f" · {analysis.seconds:.1f} s" if analysis.seconds is not None else "") + "</p>")
    if analysis.missing:
        return head + f'<p class="muted">{escape(analysis.verdict)}</p></section>'
    parts = [head, "<h3>Question</h3>",
             f'<p class="question">{escape(analysis.question or analysis.title)}</p>']
    multi = len(analysis.outcomes) > 1
    for outcome in analysis.outcomes:
        prefix = ""
        if multi:
            parts.append(f'<h3 class="outcome">Outcome: {escape(outcome.label)}</h3>')
            prefix = f"{outcome.label}: "
        headline_text = outcome_headline(analysis, outcome)
        if headline_text:
            parts.append(f'<p class="headline">{escape(prefix + headline_text)}</p>')
        for note in analysis.notes.get(outcome.label, []):
            parts.append(f'<p class="muted">Note: {escape(note)}</p>')
        parts += [f"<h3>{escape(prefix)}Data used</h3>", data_section(analysis, outcome, ctx),
                  f"<h3>{escape(prefix)}Model and priors</h3>", model_section(analysis, outcome),
                  f"<h3>{escape(prefix)}Results (natural scale)</h3>", summary_section(analysis, outcome),
                  classical_section(outcome.extra_tables.get("classical"), outcome.summary,
                                    _measure(analysis, outcome), _family(analysis)),
                  extra_section(outcome),
                  f"<h3>{escape(prefix)}Diagnostics</h3>", diagnostics_section(outcome),
                  f"<h3>{escape(prefix)}Figures</h3>", figures_section(outcome, base)]
        files = sorted(p.name for p in outcome.path.glob("*.csv")) if outcome.path.is_dir() else []
        if files and base is not None:
            try:
                rel = outcome.path.relative_to(base).as_posix()
                parts.append('<p class="muted">Tables as CSV: ' + ", ".join(
                    f'<a href="{escape(rel + "/" + f, quote=True)}">{escape(f)}</a>' for f in files) + "</p>")
            except ValueError:
                pass
    parts.append("</section>")
    return "".join(parts)


def overview(analyses: Sequence[AnalysisFolder]) -> str:
    """The table of contents: every analysis with its status, headline and verdict."""
    rows = []
    for a in analyses:
        multi = len(a.outcomes) > 1
        line = "; ".join(f"{o.label}: {h}" if multi else h
                         for o, h in ((o, outcome_headline(a, o)) for o in a.outcomes) if h)
        rows.append(f'<tr><td><a href="#{escape(_anchor(a.name), quote=True)}">{escape(a.title)}</a></td>'
                    f"<td>{_badge(a.status)}</td><td>{escape(line)}</td><td>{escape(a.verdict)}</td></tr>")
    return ('<div class="scroll"><table class="data overview"><thead><tr><th>Analysis</th><th>Status</th>'
            "<th>Pooled estimate</th><th>Diagnostics verdict</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


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
    base : directory the page will be written to (for relative links to CSV and full-size figures)
    """
    ctx = ctx or PageContext()
    body = "".join(analysis_section(a, ctx, base) for a in analyses)
    return Template(template_text()).substitute(
        title=escape(ctx.title), generated=escape(ctx.generated), overview=overview(analyses), body=body,
        footer=footer(analyses, ctx), count=str(len(analyses)))
