"""The package's pooled AE rates beside published meta-analyses: rows, values, explanations, report."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayes_il2.evidence import load_registry
from bayes_il2.safety import published_comparison
from bayes_il2.safety.published import COMPARISONS


@pytest.fixture(scope="module")
def meta():
    return load_registry().meta_analyses


def _result(events, n, weeks, rate=(0.2, 0.05, 0.8), risk=(0.045, 0.012, 0.17)):
    summary = pd.DataFrame({"parameter": ["rate_pooled", "risk_pooled"], "median": [rate[0], risk[0]],
                            "eti_low": [rate[1], risk[1]], "eti_high": [rate[2], risk[2]]})
    effects = pd.DataFrame({"study_id": [f"s{i}" for i in range(len(events))], "disease": "SLE",
                            "events": events, "n": n, "exposure_weeks": weeks})
    return summary, effects, {"exposure": "cloglog", "reference_weeks": 12.0}


def test_autoimmun_rev_2023_row_is_kept_blank_with_the_reason(meta):
    table = published_comparison(meta, {"any_ae": _result([3, 5], [20, 30], [12.0, 24.0])})
    row = table[table["published_id"] == "AutoimmunRev2023_Treg.ae_rate"].iloc[0]
    assert np.isnan(row["published_value"])
    assert "full text is needed" in row["explanation"]
    assert row["package_median"] == 0.2 and row["package_risk_median"] == 0.045


def test_published_percentages_become_proportions_and_the_crude_difference_is_explained(meta):
    table = published_comparison(meta, {"injection_site_reaction": _result([5, 9], [40, 29], [12.0, 24.0])})
    row = table[table["published_id"] == "Su2024_IID_SLE.isr"].iloc[0]
    assert row["published_value"] == pytest.approx(0.331)  # printed 33.1%
    assert row["package_crude_proportion"] == pytest.approx(14 / 69)
    assert row["package_k_studies"] == 2 and row["package_window_weeks"] == "12-24"
    text = row["explanation"]
    assert "Studies:" in text and "Exposure:" in text and "Model:" in text
    assert f"{14 / 69 - 0.331:+.1%}" in text


def test_an_outcome_the_analysis_did_not_fit_is_said_so(meta):
    table = published_comparison(meta, {})
    assert len(table) == len(COMPARISONS)
    assert (table["package_quantity"].str.contains("not fitted")).all()


def test_the_report_shows_the_comparison_and_its_explanations(tmp_path, meta):
    from bayes_il2.report import load_analysis
    from bayes_il2.report.analysis_tables import analysis_tables_section

    folder = tmp_path / "adverse_events_rate"
    for label in ("serious_ae", "any_ae"):
        (folder / label).mkdir(parents=True)
        for name in ("summary", "effects", "excluded"):
            pd.DataFrame({"a": [1]}).to_csv(folder / label / f"{name}.csv", index=False)
    table = published_comparison(meta, {"any_ae": _result([3], [20], [12.0])})
    table.to_csv(folder / "published_comparison.csv", index=False)
    run = {"analysis": "adverse_events_rate", "outcomes": ["serious_ae", "any_ae"], "analysis_notes": ["a note"]}
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    html = analysis_tables_section(load_analysis(folder))
    assert "Published adverse-event rates beside the pooled ones" in html
    assert "AutoimmunRev2023_Treg.ae_rate vs any_ae" in html and "Note: a note" in html
