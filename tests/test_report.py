"""The HTML report reads the folders the pipeline writes and tells the whole analysis on one page.

Results folders are written by the real ``bayes_il2.pipeline.write_analysis`` from a Fit whose
posterior is synthetic (no sampling), so the report is tested against the exact on-disk format.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from bayes_il2.diagnostics.checks import Check  # noqa: E402
from bayes_il2.diagnostics.report import DiagnosticsReport  # noqa: E402
from bayes_il2.fit import Fit, data_fingerprint, software_versions  # noqa: E402
from bayes_il2.plots.titles import figure_heading  # noqa: E402
from bayes_il2.pipeline import AnalysisRun, OutcomeResult, figures_for, write_analysis  # noqa: E402
from bayes_il2.priors import HalfNormal, Normal  # noqa: E402
from bayes_il2.report import load_analysis  # noqa: E402
from bayes_il2.report import write_results_report  # noqa: E402
from bayes_il2.report.render import EMBED_BUDGET_BYTES  # noqa: E402
from bayes_il2.specs import load_spec  # noqa: E402
from test_plots import effect_table, make_fit  # noqa: E402

SPEC = '''name = "{name}"
title = "Treg <expansion> & more"
question = "Does LD-IL-2 expand Tregs? <script>alert(1)</script>"
figures = {figures}

[data]
kind = "treg_expansion"
measure = "ROMC"

[model]
family = "nnhm"

[priors]
mu = {{ family = "normal", mu = 0.0, sigma = 2.0 }}
tau = {{ family = "half_normal", scale = 0.5 }}

[sampler]
draws = 200
chains = 2
seed = 4242
'''


class FakeRegistry:
    version = "f00d" * 16
    sources = pd.DataFrame({"source_id": ["src_a", "src_b", "src_c"],
                            "authors": ["He J, Zhang R", "Smith A", "Javascript B"], "year": [2022, 2020, 2019],
                            "doi": ["10.1000/xyz", None, None], "url": [None, "https://example.org/b",
                                                                         "javascript:alert(1)"],
                            "pmid": [None, None, None]})
    studies = None


def real_fit(table: pd.DataFrame) -> Fit:
    fake = make_fit(table)
    return Fit(idata=fake.idata, family="nnhm", measure="ROMC", data=table, model=None,
               priors={"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)}, sampler="nutpie", seed=4242,
               data_fingerprint=data_fingerprint(table), versions=software_versions(),
               settings={"draws": 200, "tune": 200, "chains": 2, "parameterization": "noncentered"})


def diagnostics_for(table: pd.DataFrame) -> DiagnosticsReport:
    pred = pd.DataFrame({"study_id": table["study_id"], "variable": "y", "observed": table["yi"],
                         "pp_low": table["yi"] - 0.4, "pp_high": table["yi"] + 0.4, "pp_pvalue": 0.5,
                         "outside": False})
    loo = pd.DataFrame({"study_id": table["study_id"], "elpd_i": -1.0, "pareto_k": 0.2, "flagged": False,
                        "elpd_method": "psis"})
    checks = [Check("r_hat", "pass", 1.002, "<= 1.01", "largest R-hat 1.002"),
              Check("ess_bulk", "warn", 350, ">= 400", "smallest bulk ESS 350", "draw more samples")]
    return DiagnosticsReport(checks=checks, tables={"predictive": pred, "loo": loo},
                             loo_elpd={"elpd": -10.0, "se": 1.0, "p_loo": 2.0}, notes=["a note & more"])


def outcome(spec, label: str, k: int, seed: int) -> OutcomeResult:
    table = effect_table(k, seed=seed).assign(source_id=lambda d: np.where(np.arange(len(d)) % 3 == 0, "src_a",
                                                                           np.where(np.arange(len(d)) % 3 == 1,
                                                                                    "src_b", "src_c")))
    table["skewed"] = (np.arange(len(table)) == 0) & (label == "treg_pct_cd4")
    fit = real_fit(table)
    diag = diagnostics_for(table)
    excluded = pd.DataFrame({"study_id": ["X1"], "arm_id": [""], "outcome": [label],
                             "reason": ["no SD <reported>"]})
    return OutcomeResult(label=label, effects=table, excluded=excluded, summary=fit.summary(scale="natural"),
                         fit=fit, diagnostics=diag, figures=figures_for(spec, fit, table, diag, label))


def build_results(root: Path, figures=("forest", "tau_posterior", "ppc", "pareto_k")) -> Path:
    """Write two analyses (one with two outcomes) with the pipeline's own writer; return the results dir."""
    out = root / "results"
    specs = root / "models"
    specs.mkdir(parents=True, exist_ok=True)
    for name in ("treg_demo", "multi_demo"):
        (specs / f"{name}.toml").write_text(SPEC.format(name=name, figures=json.dumps(list(figures))),
                                            encoding="utf-8")
    spec = load_spec(specs / "treg_demo.toml")
    single = outcome(spec, "treg_pct_cd4", 8, seed=1)
    write_analysis(AnalysisRun(spec=spec, outcomes=[single], status="warn", verdict=single.diagnostics.verdict,
                               seconds=2.5), out)
    spec2 = load_spec(specs / "multi_demo.toml")
    outs = [outcome(spec2, "any_ae", 5, seed=2), outcome(spec2, "serious ae", 4, seed=3)]
    write_analysis(AnalysisRun(spec=spec2, outcomes=outs, status="warn", verdict="two outcomes", seconds=4.0), out)
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return build_results(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def page(results) -> str:
    index = write_results_report(results, ["treg_demo", "multi_demo", "never_ran"], registry=FakeRegistry(),
                                 seconds=12.5)
    return index.read_text(encoding="utf-8")


def images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


# --------------------------------------------------------------------------- reading folders
def test_load_analysis_reads_run_json_spec_and_outcomes(results):
    single = load_analysis(results / "treg_demo")
    assert single.status == "warn" and single.question.startswith("Does LD-IL-2 expand Tregs?")
    assert [o.label for o in single.outcomes] == ["treg_pct_cd4"]
    assert [n for n, _ in single.outcomes[0].figures] == ["forest", "tau_posterior", "ppc", "pareto_k"]
    assert single.outcomes[0].fit_meta["seed"] == 4242
    multi = load_analysis(results / "multi_demo")
    assert [o.label for o in multi.outcomes] == ["any_ae", "serious ae"]
    assert len(multi.outcomes[1].effects) == 4


def test_missing_folder_is_reported_not_raised(tmp_path):
    record = load_analysis(tmp_path / "nothing")
    assert record.missing and record.status == "missing"


# --------------------------------------------------------------------------- the page
def test_report_is_written_atomically_next_to_the_analyses(results, page):
    assert (results / "index.html").is_file()
    assert not list(results.glob(".index.html.*"))
    assert page.startswith("<!DOCTYPE html>")


def linked_images(html: str) -> list[str]:
    return re.findall(r'<img src="(?!data:)([^"]+)"', html)


def test_figures_are_embedded_within_the_budget_then_linked(results, page, monkeypatch):
    from bayes_il2.report import render

    pngs = sorted(results.rglob("*.png"))
    embedded = images(page)
    assert len(pngs) == 3 * 4 and len(embedded) + len(linked_images(page)) == len(pngs)
    assert all(data[:8] == b"\x89PNG\r\n\x1a\n" for data in embedded)
    assert sum(len(base64.b64encode(d)) for d in embedded) <= EMBED_BUDGET_BYTES
    # the results folder's figures (150 dpi) are embedded as the bytes written, not re-encoded
    assert {bytes(d) for d in embedded} <= {p.read_bytes() for p in pngs}
    # a budget for about half of them: the first ones are embedded, the rest linked
    budget = sum(len(base64.b64encode(p.read_bytes())) for p in pngs) // 2
    monkeypatch.setattr(render.FigureBudget, "__init__", lambda self, left=budget: setattr(self, "left", left))
    html = write_results_report(results, ["treg_demo", "multi_demo"], registry=FakeRegistry(),
                                index_name="half.html").read_text(encoding="utf-8")
    embedded, linked = images(html), linked_images(html)
    assert embedded and sum(len(base64.b64encode(d)) for d in embedded) <= budget
    assert linked and all((results / rel).is_file() for rel in linked)   # relative paths: work offline


def test_a_page_with_no_budget_links_every_figure(results, monkeypatch):
    from bayes_il2.report import render

    monkeypatch.setattr(render, "EMBED_BUDGET_BYTES", 0)
    monkeypatch.setattr(render.FigureBudget, "__init__", lambda self, left=0: setattr(self, "left", left))
    html = write_results_report(results, ["treg_demo"], index_name="linked.html").read_text(encoding="utf-8")
    assert images(html) == [] and len(linked_images(html)) == 4


def test_page_is_self_contained(page):
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', page)
    assert "<script" not in page.replace("&lt;script&gt;", "")


def test_text_from_files_is_escaped(page):
    assert "<script>alert(1)</script>" not in page
    assert "Does LD-IL-2 expand Tregs? &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Treg &lt;expansion&gt; &amp; more" in page
    assert "no SD &lt;reported&gt;" in page


def test_studies_link_to_their_sources(page):
    assert '<a href="https://doi.org/10.1000/xyz" rel="noopener">He J et al. 2022</a>' in page
    assert '<a href="https://example.org/b" rel="noopener">Smith A 2020</a>' in page
    assert 'href="javascript:' not in page  # only http(s) links are made


def test_model_and_priors_are_stated_in_words_and_formula(page):
    assert "normal-normal hierarchical model" in page
    assert "θ<sub>i</sub> | μ, τ ~ N(μ, τ<sup>2</sup>)" in page
    assert "half-normal with scale 0.5; 95% of its mass below 0.98" in page
    assert "τ ~ HN(0.5)" in page and "μ ~ N(0, 2<sup>2</sup>)" in page
    assert "{'family'" not in page and "?(" not in page        # no raw code or repr


def test_summary_table_shows_the_natural_scale_estimate(results, page):
    summary = pd.read_csv(results / "treg_demo" / "summary.csv")
    mu = summary[summary["parameter"] == "mu"].iloc[0]
    assert mu["median"] > 1.0  # exp of a positive log ratio: natural scale
    assert (f"pooled ratio of means, post/pre {mu['median']:.3g} (95% CrI {mu['eti_low']:.3g} to "
            f"{mu['eti_high']:.3g})") in page


def test_diagnostics_verdict_and_hints_are_shown(page):
    assert "WARN: ess_bulk warn (smallest bulk ESS 350)" in page
    assert "draw more samples" in page and "a note &amp; more" in page


def test_each_outcome_of_a_multi_outcome_analysis_has_its_section(page):
    assert "Outcome: any adverse event <code>any_ae</code>" in page and "Outcome: serious ae" in page
    assert 'href="multi_demo/serious_ae/summary.csv"' in page


def test_footer_lists_versions_seeds_registry_and_run_time(page):
    footer = page[page.index("<footer>"):]
    assert "f00d" * 16 in footer
    assert "treg_demo: 4242" in footer
    assert "pymc" in footer and "arviz" in footer
    assert "Run time: 12.5 s" in footer


def test_analyses_that_did_not_write_results_are_listed_as_missing(page):
    assert "never_ran" in page and "MISSING" in page


def test_report_without_registry_names_sources_without_links(results):
    index = write_results_report(results, ["treg_demo"], registry=None, index_name="user.html")
    html = index.read_text(encoding="utf-8")
    assert index.name == "user.html"
    assert "not used (user data)" in html
    assert "doi.org" not in html and "src_a" in html


def test_non_posterior_summary_tables_are_shown_as_written(tmp_path):
    folder = tmp_path / "reanalysis"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"analysis": "reanalysis", "title": "Reanalysis", "status": "pass",
                                                 "verdict": "no MCMC diagnostics", "spec": None,
                                                 "outcomes": ["essdai"]}))
    pd.DataFrame({"prior": ["skeptical", "neutral"], "p_benefit": [0.81, 0.93]}).to_csv(folder / "summary.csv",
                                                                                     index=False)
    html = write_results_report(tmp_path, ["reanalysis"]).read_text(encoding="utf-8")
    assert "<td>skeptical</td><td>0.810</td>" in html
    assert "No MCMC diagnostics" in html


def test_data_selection_is_described_from_the_spec(page):
    assert "Change in regulatory T cells" in page
    assert "assumed pre-post correlation r = 0.5" in page


def test_write_report_accepts_a_directory_and_folders(results, tmp_path):
    from bayes_il2.report import write_report

    index = write_report([results / "treg_demo"], tmp_path)
    assert index == tmp_path / "index.html"
    assert "Treg &lt;expansion&gt;" in index.read_text(encoding="utf-8")


def test_notes_in_run_json_are_shown_with_their_outcome(tmp_path):
    folder = tmp_path / "noted"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"analysis": "noted", "title": "Noted", "status": "pass",
                                                 "verdict": "", "spec": None, "outcomes": ["essdai"],
                                                 "notes": {"essdai": ["arm B <excluded>"]}}))
    html = write_results_report(tmp_path, ["noted"]).read_text(encoding="utf-8")
    assert "Note: arm B &lt;excluded&gt;" in html


def test_values_converted_from_skewed_medians_are_named(results, page):
    flagged = pd.read_csv(results / "treg_demo" / "effects.csv").query("skewed")["study_id"].tolist()
    assert len(flagged) == 1
    assert f"calls skewed, with the normal-theory estimators: {flagged[0]}." in page
    assert page.count("calls skewed") == 1        # the other analysis has no flagged value


# --------------------------------------------------------------------------- first contact (issue 18)
def ids_and_links(html: str) -> tuple[list[str], list[str]]:
    return re.findall(r'\sid="([^"]+)"', html), re.findall(r'<nav class="toc".*?</nav>', html, re.S)


def test_ids_are_unique_and_every_toc_link_resolves(page):
    ids, nav = ids_and_links(page)
    assert len(ids) == len(set(ids))
    targets = re.findall(r'href="#([^"]+)"', nav[0])
    assert targets and all(t in ids for t in targets)
    assert "multi_demo--serious_ae" in targets            # the contents reach each outcome


def test_overview_has_one_line_per_question_with_badge_and_natural_headline(page):
    overview = page[page.index('<div class="overview">'):page.index("</header>")]
    lines = re.findall(r'<details class="line[^"]*"><summary>(.*?)</summary>', overview, re.S)
    assert len(lines) == 4                                   # treg_demo, 2 outcomes of multi_demo, never_ran
    assert all('class="badge' in line for line in lines)
    assert any("pooled ratio of means, post/pre" in line and "Tregs rose" in line for line in lines)
    assert "Diagnostics: WARN" in overview                    # the verdict is one click away


def test_caveat_box_is_generated_from_the_data(page):
    assert page.count('<aside class="caveats">') >= 3
    assert "Rests on k = 8 studies." in page and "Designs mixed (rct, single_arm)" in page


def test_caveats_name_unidentified_parameters_and_single_centres():
    from bayes_il2.report.caveats import caveats

    two = pd.DataFrame({"study_id": ["A", "B"], "disease": ["pSS", "SLE"], "design": ["rct", "rct"]})
    assert any(c.startswith("tau is weakly identified (k = 2 < 3)") for c in caveats(two, "nnhm"))
    three = caveats(two, "three_level")
    assert any(c.startswith("tau_within is not identified: one study per disease") for c in three)
    studies = pd.DataFrame({"study_id": ["A", "B"], "note": ["Randomized, single centre (Peking)", "multicentre"]})
    assert "Single centre: 1 of 2 studies are single-centre (A), per the registry notes." in caveats(two, "nnhm", studies)


def test_sensitivity_table_is_on_the_natural_scale_with_its_scale_stated(tmp_path):
    from bayes_il2.report.render import extra_section
    from bayes_il2.report.collect import AnalysisFolder, OutcomeFolder

    sens = pd.DataFrame({"scenario": ["tau prior"], "value": ["HalfNormal(1)"], "k": [8], "mu_mean": [1.15],
                         "mu_low": [0.9], "mu_high": [1.4], "tau_median": [0.3], "engine": ["exact"]})
    outcome = OutcomeFolder(label="treg", path=tmp_path, summary=pd.DataFrame(), effects=pd.DataFrame(),
                            excluded=pd.DataFrame(), diagnostics=None, figures=(), extra_tables={"sensitivity": sens},
                            fit_meta={"measure": "ROMC"})
    analysis = AnalysisFolder(name="t", path=tmp_path, title="T", status="pass", verdict="", seconds=None,
                              spec_path=None, spec={}, outcomes=(outcome,))
    html = extra_section(analysis, outcome)
    assert f"<td>{np.exp(1.15):.3f}</td>" in html and "<td>1.150</td>" not in html
    assert "Scale: μ on the natural scale (ratio of means, post/pre)" in html and "τ median (model scale)" in html
    assert "τ prior: half-normal with scale 1" in html and "HalfNormal(1)" not in html


def test_weight_is_defined_under_the_forest_plot(page):
    assert "Weight: each study&#x27;s share (%) of the random-effects inverse-variance weights" in page


def test_running_one_spec_keeps_the_other_analyses_on_the_combined_page(results):
    html = write_results_report(results, ["treg_demo"], registry=FakeRegistry()).read_text(encoding="utf-8")
    assert 'id="multi_demo"' in html and 'id="treg_demo"' in html


def test_user_fit_page_is_titled_from_the_analysis(results):
    html = write_results_report(results, ["treg_demo"], index_name="mine.html").read_text(encoding="utf-8")
    assert "<title>Treg &lt;expansion&gt; &amp; more</title>" in html
    assert 'id="multi_demo"' not in html                      # a one-analysis page stays one analysis


def test_page_weight_stays_under_3_mb(results):
    index = write_results_report(results, ["treg_demo", "multi_demo"], registry=FakeRegistry())
    assert index.stat().st_size < 3_000_000


def test_the_forest_by_design_carries_its_heading_once(tmp_path):
    """forest_plot draws the heading itself; figures_for stamped it a second time above."""
    spec_path = tmp_path / "treg_demo.toml"
    spec_path.write_text(SPEC.format(name="treg_demo", figures=json.dumps(["forest_by_design"])), encoding="utf-8")
    spec = load_spec(spec_path)
    table = effect_table(6, seed=3).assign(design=["rct", "single_arm"] * 3)
    fit = real_fit(table)
    figure = figures_for(spec, fit, table, diagnostics_for(table), "treg_pct_cd4")["forest_by_design"]
    from matplotlib.text import Text

    texts = [t.get_text() for t in figure.findobj(Text)]
    heading = figure_heading(spec.title, "treg_pct_cd4")
    assert sum(heading in t for t in texts) == 1, [t for t in texts if heading in t]


def test_every_model_family_is_described_in_words_and_formula():
    from bayes_il2.api import FAMILIES
    from bayes_il2.report.describe import FAMILIES as DESCRIBED

    assert sorted(set(FAMILIES) - set(DESCRIBED)) == []
    assert all(words and lines for words, lines in DESCRIBED.values())


@pytest.mark.parametrize("caveat, opening", [
    ({"parameter": "tau", "message": "k = 1: no pooling; ...", "pooled": False}, "k = 1, no pooling: pooled"),
    ({"parameter": "tau_within", "message": "tau_within and tau_between are not separately identified",
      "pooled": True}, "tau split not identified: pooled"),
    (None, "pooled"),
])
def test_the_natural_headline_keeps_what_the_data_cannot_identify(tmp_path, caveat, opening):
    """The overview line was built from summary.csv alone and dropped the pipeline's "k = 1, no pooling"
    (an AE outcome with one trial read "pooled proportion 0.694")."""
    from bayes_il2.report.render import outcome_headline

    spec_path = tmp_path / "treg_demo.toml"
    spec_path.write_text(SPEC.format(name="treg_demo", figures=json.dumps([])), encoding="utf-8")
    spec = load_spec(spec_path)
    result = outcome(spec, "treg_pct_cd4", 4, seed=5)
    if caveat is not None:
        result.fit.settings["caveats"] = [caveat]
    write_analysis(AnalysisRun(spec=spec, outcomes=[result], status="pass", verdict="ok", seconds=1.0),
                   tmp_path / "results")
    analysis = load_analysis(tmp_path / "results" / "treg_demo")
    line = outcome_headline(analysis, analysis.outcomes[0])
    assert line.startswith(opening + " ratio of means") and line.count("pooled") == 1
