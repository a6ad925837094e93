"""Analysis-level tables in the report: published AE rates beside the pooled ones, and the
benefit-harm decision table (written by the pipeline at the top of a multi-outcome analysis folder).
"""
from __future__ import annotations

from html import escape

from bayes_il2.report.collect import AnalysisFolder

PUBLISHED_COLUMNS = [
    ("published_id", "published"), ("published_outcome", "outcome"), ("published_value", "value"),
    ("published_k", "k"), ("package_outcome", "package outcome"), ("package_median", "rate / py (median)"),
    ("package_low", "2.5%"), ("package_high", "97.5%"), ("package_risk_median", "12-week risk"),
    ("package_risk_low", "2.5%"), ("package_risk_high", "97.5%"),
    ("package_crude_proportion", "crude proportion (package studies)"), ("package_k_studies", "k studies"),
    ("package_k_arms", "arms"), ("package_window_weeks", "windows (weeks)"),
]
DECISION_COLUMNS = [
    ("study_id", "trial"), ("benefit_endpoint", "benefit endpoint"), ("benefit_data", "data"),
    ("benefit_prior", "prior"), ("p_benefit", "P(OR > 1)"), ("p_important_benefit", "P(OR > 2)"),
    ("harm_endpoint", "harm"), ("harm_data", "data"), ("criterion", "harm criterion"),
    ("p_harm_criterion", "P(criterion)"), ("p_joint", "P(benefit and criterion)"),
    ("p_joint_low", "lower bound"), ("p_joint_high", "upper bound"),
]
TITLES = {
    "published_comparison": ("Published adverse-event rates beside the pooled ones", PUBLISHED_COLUMNS,
                             "Published values are proportions (printed percentages divided by 100); the "
                             "package gives rates per patient-year and the 12-week risk under its exposure "
                             "model, and the crude proportion of its own studies for a like-for-like view."),
    "decision_table": ("Benefit and harm together: decision table", DECISION_COLUMNS,
                       "Benefit: the primary responder endpoint under each prior; harm: infection and "
                       "serious/severe AE contrasts under the neutral prior. P(benefit and criterion) "
                       "multiplies the two posteriors (independent, as arm totals are all the trials "
                       "report); the bounds hold under any dependence (Fréchet)."),
}


def analysis_tables_section(analysis: AnalysisFolder) -> str:
    """HTML for the analysis-level tables and notes ('' when there are none)."""
    from bayes_il2.report.render import html_table

    parts = []
    for name, table in analysis.tables.items():
        title, columns, caption = TITLES.get(name, (name.replace("_", " ").capitalize(), None, ""))
        parts.append(f"<h3>{escape(title)}</h3>")
        if caption:
            parts.append(f'<p class="muted">{escape(caption)}</p>')
        parts.append(html_table(table, columns))
        if name == "published_comparison" and "explanation" in table.columns:
            items = "".join(f"<li><b>{escape(str(r.published_id))} vs {escape(str(r.package_outcome))}</b>: "
                            f"{escape(str(r.explanation))}</li>" for r in table.itertuples(index=False))
            parts.append(f"<ul>{items}</ul>")
        parts.append(f'<p class="muted">Table as CSV: <code>{escape(name)}.csv</code></p>')
    published = analysis.tables.get("published_comparison")
    shown = tuple(map(str, published["published_id"])) if published is not None else ()
    for note in analysis.analysis_notes:
        if not note.startswith(shown):  # the explanations are listed under the table already
            parts.append(f'<p class="muted">Note: {escape(note)}</p>')
    return "".join(parts)
