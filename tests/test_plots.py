"""Figures read fitted results and draw what the data say: rows, intervals, diamonds, scales, labels.

The fits here are fake but shaped exactly like a ``bayes_il2.fit.Fit`` (an xarray DataTree with the
posterior variables of docs/architecture.md), so the figures are tested without sampling.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from scipy import stats  # noqa: E402

from bayes_il2 import plots  # noqa: E402
from bayes_il2.errors import ModelError  # noqa: E402

DISEASES = ("SLE", "pSS", "RA", "T1D", "ALS")


# --------------------------------------------------------------------------- fakes
@dataclass(frozen=True)
class HalfNormalPrior:
    """Stands in for bayes_il2.priors.HalfNormal (only what the plots use: logpdf and repr)."""

    scale: float

    def logpdf(self, x):
        return stats.halfnorm(scale=self.scale).logpdf(x)

    def __repr__(self) -> str:
        return f"HalfNormal(scale={self.scale})"


@dataclass(frozen=True)
class NormalPrior:
    mu: float
    sigma: float

    def logpdf(self, x):
        return stats.norm(self.mu, self.sigma).logpdf(x)

    def __repr__(self) -> str:
        return f"Normal(mu={self.mu}, sigma={self.sigma})"


@dataclass(frozen=True)
class FakeFit:
    idata: xr.DataTree
    family: str
    measure: str
    data: pd.DataFrame
    priors: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 1
    sampler: str = "fake"
    versions: dict[str, str] = field(default_factory=dict)


def effect_table(k: int, measure: str = "ROMC", seed: int = 0, long_label: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"S{i:02d}" for i in range(k)]
    labels = [f"Author{i} {2015 + i % 10}" for i in range(k)]
    if long_label and k:
        labels[0] = "A very long study label that certainly does not fit in the label column " * 2
    return pd.DataFrame({
        "study_id": ids, "label": labels,
        "disease": [DISEASES[i % min(len(DISEASES), max(1, k // 2))] for i in range(k)],
        "design": ["rct" if i % 3 == 0 else "single_arm" for i in range(k)],
        "measure": measure, "yi": rng.normal(0.6, 0.3, k), "vi": rng.uniform(0.01, 0.2, k),
        "n": rng.integers(10, 120, k), "dose_miu": 1.0, "dose_unit": "MIU",
        "year": 2020 - np.arange(k) % 7,
    })


def make_fit(table: pd.DataFrame, family: str = "nnhm", draws: int = 200, seed: int = 1) -> FakeFit:
    rng = np.random.default_rng(seed)
    shape = (2, draws)
    ids = table["study_id"].astype(str).tolist()
    k = len(ids)
    post: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    coords: dict[str, Any] = {"chain": [0, 1], "draw": np.arange(draws), "study_id": ids}
    mu = rng.normal(0.5, 0.1, shape)
    post["mu"] = (("chain", "draw"), mu)
    theta = mu[..., None] + rng.normal(0, 0.15, shape + (k,))
    post["theta"] = (("chain", "draw", "study_id"), theta)
    if family == "three_level":
        levels = sorted(set(table["disease"]))
        coords["disease"] = levels
        post["tau_within"] = (("chain", "draw"), np.abs(rng.normal(0, 0.2, shape)))
        post["tau_between"] = (("chain", "draw"), np.abs(rng.normal(0, 0.2, shape)))
        post["mu_disease"] = (("chain", "draw", "disease"), mu[..., None] + rng.normal(0, 0.1, shape + (len(levels),)))
        priors = {"mu": NormalPrior(0, 2), "tau_within": HalfNormalPrior(0.5), "tau_between": HalfNormalPrior(0.5)}
    else:
        tau = np.abs(rng.normal(0, 0.3, shape))
        post["tau"] = (("chain", "draw"), tau)
        post["i2"] = (("chain", "draw"), tau ** 2 / (tau ** 2 + 0.05))
        priors = {"mu": NormalPrior(0, 2), "tau": HalfNormalPrior(0.5)}
    post["theta_new"] = (("chain", "draw"), mu + rng.normal(0, 0.3, shape))
    ds = xr.Dataset({name: xr.DataArray(v, dims=d) for name, (d, v) in post.items()},
                    coords={c: v for c, v in coords.items()})
    tree = xr.DataTree.from_dict({"posterior": ds})
    return FakeFit(idata=tree, family=family, measure=str(table["measure"].iloc[0]), data=table,
                   priors=priors)


def gids(fig, prefix: str) -> list[str]:
    found = []
    for ax in fig.axes:
        for artist in ax.get_children():
            gid = artist.get_gid()
            if gid and gid.startswith(prefix):
                found.append(gid)
    for artist in fig.texts:
        gid = artist.get_gid()
        if gid and gid.startswith(prefix):
            found.append(gid)
    return found


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- the forest plot
@pytest.mark.parametrize("k", [2, 10, 60])
def test_forest_draws_one_observed_and_one_posterior_interval_per_study(k):
    table = effect_table(k)
    fig = plots.forest_plot(table, fit=make_fit(table))
    assert len(gids(fig, "observed:")) == k
    assert len(gids(fig, "posterior:")) == k
    assert len(gids(fig, "diamond:overall")) == 1
    assert gids(fig, "predictive") == ["predictive"]


@pytest.mark.parametrize("k", [2, 10, 60])
def test_forest_draws_a_diamond_per_disease_for_three_level_fits(k):
    table = effect_table(k)
    fig = plots.forest_plot(table, fit=make_fit(table, family="three_level"))
    diseases = sorted(set(table["disease"]))
    assert sorted(g.split(":", 2)[2] for g in gids(fig, "diamond:disease:")) == diseases
    assert sorted(g.split(":", 1)[1] for g in gids(fig, "heading:")) == diseases
    diamonds = [a for a in fig.axes[1].patches if isinstance(a, Polygon)]
    assert len(diamonds) == len(diseases) + 1


@pytest.mark.parametrize("k", [2, 10, 60])
def test_forest_label_texts_match_the_data(k):
    table = effect_table(k)
    fig = plots.forest_plot(table, fit=make_fit(table))
    texts = {t.get_gid().split(":", 1)[1]: t.get_text() for t in fig.axes[0].texts
             if (t.get_gid() or "").startswith("label:")}
    assert texts == dict(zip(table["study_id"], table["label"]))


def test_forest_observed_interval_is_the_95_percent_ci_on_the_natural_scale():
    table = effect_table(3, measure="ROMC")
    fig = plots.forest_plot(table, fit=None)
    line = next(a for a in fig.axes[1].lines if a.get_gid() == "observed:S01")
    low, high = line.get_xdata()
    y, se = table.loc[1, "yi"], np.sqrt(table.loc[1, "vi"])
    assert low == pytest.approx(np.exp(y - 1.959964 * se), rel=1e-6)
    assert high == pytest.approx(np.exp(y + 1.959964 * se), rel=1e-6)


def test_forest_posterior_line_sits_beneath_the_observed_line():
    table = effect_table(4)
    fig = plots.forest_plot(table, fit=make_fit(table))
    obs = next(a for a in fig.axes[1].lines if a.get_gid() == "observed:S02")
    post = next(a for a in fig.axes[1].lines if a.get_gid() == "posterior:S02")
    assert fig.axes[1].yaxis_inverted()
    assert post.get_ydata()[0] > obs.get_ydata()[0]
    assert post.get_color() != obs.get_color() and post.get_linestyle() != obs.get_linestyle()


@pytest.mark.parametrize("measure, scale", [("OR", "log"), ("RR", "log"), ("ROM", "log"), ("ROMC", "log"),
                                            ("MD", "linear"), ("SMD", "linear")])
def test_ratio_measures_get_a_log_axis(measure, scale):
    table = effect_table(5, measure=measure)
    fig = plots.forest_plot(table, fit=make_fit(table))
    assert fig.axes[1].get_xscale() == scale


def test_log_axis_ticks_are_labelled_in_natural_units():
    table = effect_table(6, measure="OR")
    fig = plots.forest_plot(table)
    ax = fig.axes[1]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "1" in labels
    assert all(float(lab) > 0 for lab in labels)


def test_reference_line_defaults_to_no_effect_and_can_be_moved_or_hidden():
    table = effect_table(4, measure="OR")
    ref = next(a for a in plots.forest_plot(table).axes[1].lines if a.get_gid() == "reference")
    assert ref.get_xdata()[0] == 1.0
    ref = next(a for a in plots.forest_plot(table, reference=1.5).axes[1].lines if a.get_gid() == "reference")
    assert ref.get_xdata()[0] == 1.5
    assert not gids(plots.forest_plot(table, reference=False), "reference")
    md = effect_table(4, measure="MD")
    ref = next(a for a in plots.forest_plot(md).axes[1].lines if a.get_gid() == "reference")
    assert ref.get_xdata()[0] == 0.0


def test_rope_is_shaded_only_when_given():
    table = effect_table(4, measure="OR")
    assert gids(plots.forest_plot(table, rope=(0.8, 1.25)), "rope") == ["rope"]
    assert not gids(plots.forest_plot(table), "rope")


def test_marker_size_grows_with_precision():
    table = effect_table(5).assign(vi=[0.01, 0.04, 0.09, 0.16, 0.25])
    fig = plots.forest_plot(table)
    sizes = [next(c for c in fig.axes[1].collections if c.get_gid() == f"observed_point:S0{i}").get_sizes()[0]
             for i in range(5)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]


@pytest.mark.parametrize("sort, key", [("effect", "yi"), ("precision", "vi")])
def test_sorting_orders_studies_within_each_disease(sort, key):
    table = effect_table(12)
    fig = plots.forest_plot(table, sort=sort)
    order = [payload for kind, _, payload in fig.forest_rows if kind == "study"]
    for _, group in table.groupby("disease", sort=False):
        expected = group.sort_values(key)["study_id"].tolist()
        assert [s for s in order if s in expected] == expected


def test_sort_by_year_needs_a_year_column():
    table = effect_table(4).drop(columns="year")
    with pytest.raises(ModelError, match="year"):
        plots.forest_plot(table, sort="year")
    with pytest.raises(ModelError, match="sort must be one of"):
        plots.forest_plot(effect_table(4), sort="alphabet")


def test_long_labels_are_truncated_with_an_ellipsis():
    table = effect_table(3, long_label=True)
    fig = plots.forest_plot(table)
    text = next(t for t in fig.axes[0].texts if t.get_gid() == "label:S00").get_text()
    assert text.endswith("\u2026") and len(text) < len(table.loc[0, "label"])


def test_row_height_and_font_shrink_as_studies_are_added():
    small = plots.forest_plot(effect_table(2))
    large = plots.forest_plot(effect_table(60))
    font = lambda fig: next(t for t in fig.axes[0].texts if (t.get_gid() or "").startswith("label:")).get_fontsize()  # noqa: E731
    assert font(large) < font(small)
    assert large.get_figheight() > small.get_figheight()
    assert large.get_figheight() / 60 < small.get_figheight() / 2


def test_heterogeneity_line_reports_tau_and_i2_from_the_posterior():
    table = effect_table(8)
    fit = make_fit(table)
    fig = plots.forest_plot(table, fit=fit)
    text = next(t for t in fig.texts if t.get_gid() == "heterogeneity").get_text()
    tau_median = np.median(np.asarray(fit.idata["posterior"]["tau"]))
    assert f"tau = {tau_median:.2f}" in text and "I\u00b2" in text


def test_heterogeneity_without_a_fit_uses_cochrans_q():
    text = plots.heterogeneity_text(effect_table(5))
    assert "Cochran's Q" in text and "4 df" in text


def test_forest_without_fit_draws_observed_only():
    table = effect_table(10)
    fig = plots.forest_plot(table)
    assert len(gids(fig, "observed:")) == 10
    assert not gids(fig, "posterior:") and not gids(fig, "diamond") and not gids(fig, "predictive")


def test_forest_accepts_event_tables():
    table = pd.DataFrame({"study_id": ["a", "b"], "disease": "SLE", "design": "rct",
                          "events_t": [3, 0], "n_t": [20, 15], "events_c": [1, 2], "n_c": [20, 15]})
    fig = plots.forest_plot(table)
    assert fig.axes[1].get_xscale() == "log"
    assert len(gids(fig, "observed:")) == 2


def test_weight_column_sums_to_100_percent():
    table = effect_table(6)
    fig = plots.forest_plot(table, fit=make_fit(table))
    weights = [float(t.get_text().rstrip("%")) for t in fig.axes[2].texts if t.get_text().endswith("%")]
    assert len(weights) == 6 and sum(weights) == pytest.approx(100, abs=0.5)


# --------------------------------------------------------------------------- forest layout: nothing overlaps
def _text_boxes(fig) -> list[tuple[str, Any]]:
    """(description, window bbox) of every visible, non-empty text in the drawn figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for a in fig.axes for t in a.texts] + list(fig.texts)
    for legend in fig.legends:
        texts += legend.get_texts()
    for a in fig.axes:
        if a.axison:
            texts += [a.xaxis.label] + [t for t in a.get_xticklabels() if t.get_text()]
    return [(f"{t.get_gid() or ''}:{t.get_text()!r}", t.get_window_extent(renderer)) for t in texts
            if t.get_visible() and t.get_text().strip()]


def _overlapping_pairs(boxes) -> list[tuple[str, str]]:
    ext = np.array([[b.x0, b.y0, b.x1, b.y1] for _, b in boxes])
    tol = 0.5  # pixels: touching boxes are fine
    ox = (np.minimum(ext[:, None, 2], ext[None, :, 2]) - np.maximum(ext[:, None, 0], ext[None, :, 0])) > tol
    oy = (np.minimum(ext[:, None, 3], ext[None, :, 3]) - np.maximum(ext[:, None, 1], ext[None, :, 1])) > tol
    i, j = np.nonzero(np.triu(ox & oy, k=1))
    return [(boxes[a][0], boxes[b][0]) for a, b in zip(i, j)]


def _layout_table(k: int) -> pd.DataFrame:
    table = effect_table(k, long_label=True)
    table.loc[table.index % 4 == 1, "design"] = "non_randomised_controlled"
    return table


@pytest.mark.parametrize("k, family", [(2, "nnhm"), (10, "three_level"), (60, "nnhm")])
def test_forest_texts_never_overlap_and_stay_inside_the_figure(k, family):
    table = _layout_table(k)
    fig = plots.forest_plot(table, fit=make_fit(table, family=family), title="A title " * 3)
    boxes = _text_boxes(fig)
    assert _overlapping_pairs(boxes) == []
    width, height = fig.bbox.width, fig.bbox.height
    outside = [name for name, b in boxes if b.x0 < 0 or b.y0 < 0 or b.x1 > width or b.y1 > height]
    assert outside == []


@pytest.mark.parametrize("k", [2, 10, 60])
def test_forest_left_columns_end_before_the_plot_and_right_columns_start_after_it(k):
    table = _layout_table(k)
    fig = plots.forest_plot(table, fit=make_fit(table))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax_left, ax, ax_right = fig.axes
    plot_box = ax.get_window_extent(renderer)
    assert max(t.get_window_extent(renderer).x1 for t in ax_left.texts) < plot_box.x0
    assert min(t.get_window_extent(renderer).x0 for t in ax_right.texts) > plot_box.x1


@pytest.mark.parametrize("k, family", [(2, "nnhm"), (10, "three_level"), (60, "nnhm")])
def test_forest_legend_heterogeneity_line_and_x_axis_are_stacked_without_overlap(k, family):
    table = _layout_table(k)
    fig = plots.forest_plot(table, fit=make_fit(table, family=family))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    het = next(t for t in fig.texts if t.get_gid() == "heterogeneity").get_window_extent(renderer)
    axis = fig.axes[1].xaxis.get_tightbbox(renderer)
    assert not legend.overlaps(het) and not het.overlaps(axis) and not legend.overlaps(axis)
    assert legend.y1 <= het.y0 and het.y1 <= axis.y0  # top to bottom: axis, heterogeneity, legend
    assert legend.y0 >= 0 and legend.x0 >= 0 and legend.x1 <= fig.bbox.width
    assert het.x1 <= fig.bbox.width


@pytest.mark.parametrize("k", [2, 60])
def test_forest_saved_with_a_tight_bounding_box_keeps_a_blank_border(k, tmp_path):
    # text cut off at the edge of the saved image leaves ink in its outermost pixels
    table = _layout_table(k)
    fig = plots.forest_plot(table, fit=make_fit(table), title="Treg expansion under low-dose IL-2")
    (path,) = plots.save_figure(fig, tmp_path / "forest", formats=("png",), dpi=60)
    image = plt.imread(path)[..., :3]
    border = np.concatenate([image[:3].reshape(-1, 3), image[-3:].reshape(-1, 3),
                             image[:, :3].reshape(-1, 3), image[:, -3:].reshape(-1, 3)])
    assert border.min() > 0.95


def test_forest_event_rate_table_texts_do_not_overlap():
    table = pd.DataFrame({"study_id": ["He2016", "He2020", "Long_study_identifier_2021"],
                          "disease": "SLE", "design": ["single_arm", "rct", "non_randomised_controlled"],
                          "events": [5, 9, 0], "n": [40, 29, 12]})
    fig = plots.forest_plot(table, title="Adverse-event rates under low-dose IL-2 (single-arm event rates)")
    assert fig.axes[1].get_xlabel().startswith("proportion")
    assert _overlapping_pairs(_text_boxes(fig)) == []


def test_forest_shows_design_codes_readably():
    table = _layout_table(4)
    fig = plots.forest_plot(table)
    design = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").startswith("design:")}
    assert design == {"design:S00": "RCT", "design:S01": "non-randomised controlled",
                      "design:S02": "single-arm", "design:S03": "RCT"}


def test_forest_cuts_overlong_design_text_with_an_ellipsis_that_fits_its_column():
    table = effect_table(3)
    table.loc[0, "design"] = "an_unregistered_design_code_" * 4
    fig = plots.forest_plot(table)
    text = next(t for t in fig.axes[0].texts if t.get_gid() == "design:S00").get_text()
    assert text.endswith("\u2026") and " " in text and "_" not in text
    assert _overlapping_pairs(_text_boxes(fig)) == []


def test_text_fitting_respects_the_measured_width():
    from bayes_il2.plots._text import fit_text, text_width

    long = "A very long study label " * 5
    cut = fit_text(long, 1.5, 9)
    assert cut.endswith("\u2026") and text_width(cut, 9) <= 1.5
    assert text_width(cut, 9) > 1.5 - text_width("MM", 9)  # not cut much shorter than needed
    assert fit_text("short", 1.5, 9) == "short"


# --------------------------------------------------------------------------- other figures
def test_parameter_forest_labels_every_row_once():
    table = effect_table(5)
    fig = plots.parameter_forest(make_fit(table))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[:2] == ["mu", "tau"] and "theta[S00]" in labels and len(labels) == len(set(labels))


def test_parameter_forest_labels_do_not_overlap_with_diseases():
    """treg_by_disease: variable and disease names once ran into each other (mu_diseaseSLE)."""
    table = effect_table(14)
    fig = plots.parameter_forest(make_fit(table, family="three_level"))
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].get_yticklabels()]
    assert any(t.get_text().startswith("mu_disease[") for t in fig.axes[0].get_yticklabels())
    assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plot_left = fig.axes[0].get_window_extent().x0
    assert all(b.x1 <= plot_left + 1 for b in boxes)


def test_tau_posterior_overlays_the_prior():
    table = effect_table(5)
    fit = make_fit(table)
    fig = plots.tau_posterior_plot(fit)
    prior = next(line for line in fig.axes[0].lines if line.get_gid() == "prior:tau")
    x, y = prior.get_xdata(), prior.get_ydata()
    assert np.allclose(y, stats.halfnorm(scale=0.5).pdf(x))
    assert gids(fig, "posterior:tau")


def test_tau_posterior_has_a_panel_per_sd_in_three_level_models():
    table = effect_table(8)
    fig = plots.tau_posterior_plot(make_fit(table, family="three_level"))
    assert sorted(gids(fig, "prior:")) == ["prior:tau_between", "prior:tau_within"]


def test_mu_prior_posterior_draws_both():
    table = effect_table(5)
    fig = plots.mu_prior_posterior_plot(make_fit(table))
    assert sorted(gids(fig, "p")) == ["posterior:mu", "prior:mu"]


def test_ppc_plot_marks_studies_outside_their_interval():
    table = pd.DataFrame({"study_id": ["a", "b", "c"], "variable": "y", "observed": [0.1, 2.0, 0.3],
                          "pp_low": [-0.5, -0.5, -0.5], "pp_high": [0.5, 0.5, 0.5],
                          "pp_pvalue": [0.8, 0.01, 0.5], "outside": [False, True, False],
                          "mixed_low": [-1.0] * 3, "mixed_high": [1.0] * 3})
    fig = plots.ppc_plot(table)
    lines = {line.get_gid(): line for line in fig.axes[0].lines if line.get_gid()}
    assert len([g for g in lines if g.startswith("pp:")]) == 3
    assert len([g for g in lines if g.startswith("mixed:")]) == 3
    assert lines["pp:y:b"].get_color() != lines["pp:y:a"].get_color()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b", "c"]


def test_pareto_k_plot_labels_studies_and_draws_threshold():
    table = pd.DataFrame({"study_id": ["s1", "s2", "s3"], "elpd_i": [-1, -2, -1.5],
                          "pareto_k": [0.1, 0.9, 0.4], "flagged": [False, True, False],
                          "elpd_method": ["psis", "exact", "psis"]})
    fig = plots.pareto_k_plot(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["s1", "s2", "s3"]
    assert next(line for line in ax.lines if line.get_gid() == "threshold").get_ydata()[0] == 0.7


def test_influence_plot_draws_one_interval_per_left_out_study():
    table = pd.DataFrame({"study_id": ["s1", "s2", "s3"], "mu_mean": [0.5, 0.6, 0.4], "mu_low": [0.1, 0.2, 0.0],
                          "mu_high": [0.9, 1.0, 0.8], "tau_median": [0.2, 0.3, 0.1],
                          "delta_mu": [0.0, 0.1, -0.1], "delta_tau": [0.0, 0.1, -0.1],
                          "abs_delta_mu_sd": [0, 1, 1], "largest": [False, True, False], "engine": "exact"})
    fig = plots.influence_plot(table, measure="ROMC")
    assert len(gids(fig, "influence:")) == 3
    assert fig.axes[0].get_xscale() == "log"


def test_prior_sensitivity_plot_has_a_row_per_prior():
    table = pd.DataFrame({"tau_prior": ["half-normal(0.5)", "half-Cauchy(0.5)"], "mu_mean": [0.5, 0.6],
                          "mu_low": [0.1, 0.1], "mu_high": [0.9, 1.1], "tau_median": [0.2, 0.3],
                          "tau_low": [0.0, 0.0], "tau_high": [0.6, 0.9]})
    fig = plots.prior_sensitivity_plot(table)
    assert len(gids(fig, "mu:")) == 2 and len(gids(fig, "tau:")) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(table["tau_prior"])


def test_empty_diagnostic_tables_raise_keyerror_so_the_pipeline_skips_them():
    with pytest.raises(KeyError):
        plots.ppc_plot(pd.DataFrame())
    with pytest.raises(KeyError):
        plots.pareto_k_plot(None)


def test_save_figure_writes_each_format(tmp_path):
    fig = plots.forest_plot(effect_table(3))
    written = plots.save_figure(fig, tmp_path / "forest", formats=("png", "svg", "pdf"), dpi=50)
    assert [p.name for p in written] == ["forest.png", "forest.svg", "forest.pdf"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written[2].read_bytes()[:4] == b"%PDF"
    assert not list(tmp_path.glob(".*tmp"))
    with pytest.raises(ModelError, match="not supported"):
        plots.save_figure(plots.forest_plot(effect_table(3)), tmp_path / "x", formats=("jpg",))


# --------------------------------------------------------------------------- a real (tiny) fit
@pytest.mark.mcmc
def test_figures_read_a_real_fit_without_refitting():
    from bayes_il2.api import meta_analysis
    from bayes_il2.priors import HalfNormal, Normal

    table = effect_table(6, seed=3)
    fit = meta_analysis(table, model="nnhm", priors={"mu": Normal(0.0, 2.0), "tau": HalfNormal(0.5)},
                        draws=200, tune=200, chains=2, seed=5)
    before = fit.idata["posterior"]["mu"].values.copy()
    fig = plots.forest_plot(table, fit=fit)
    assert len(gids(fig, "posterior:")) == 6 and gids(fig, "diamond:overall")
    tau = plots.tau_posterior_plot(fit)
    prior = next(line for line in tau.axes[0].lines if line.get_gid() == "prior:tau")
    assert np.allclose(prior.get_ydata(), np.exp(HalfNormal(0.5).logpdf(prior.get_xdata())))
    plots.mu_prior_posterior_plot(fit)
    plots.parameter_forest(fit)
    assert np.array_equal(fit.idata["posterior"]["mu"].values, before)


def test_reanalysis_figures_are_exported_lazily():
    import importlib.util

    if importlib.util.find_spec("bayes_il2.plots.reanalysis") is None:
        pytest.skip("bayes_il2.plots.reanalysis is not present")
    from bayes_il2.plots import reanalysis

    assert plots.plot_reanalysis_densities is reanalysis.plot_reanalysis_densities
    with pytest.raises(AttributeError):
        plots.no_such_figure  # noqa: B018


def test_studies_with_several_arms_match_the_fits_study_arm_coordinates():
    table = effect_table(4).assign(study_id=["S00", "S00", "S01", "S02"], arm_id=["low", "high", "a", "a"])
    keyed = table.assign(study_id=["S00:low", "S00:high", "S01", "S02"])
    fig = plots.forest_plot(table, fit=make_fit(keyed))
    assert sorted(gids(fig, "posterior:")) == sorted(f"posterior:{k}" for k in keyed["study_id"])


# --------------------------------------------------------------------------- direction and headings
def test_harm_odds_ratio_axis_says_left_favours_ld_il2():
    from bayes_il2.plots.direction import FAVOURS_IL2_LEFT, effect_direction

    table = effect_table(4, measure="OR").assign(outcome="infection")
    fig = plots.forest_plot(table)
    assert FAVOURS_IL2_LEFT in fig.axes[1].get_xlabel() or any(FAVOURS_IL2_LEFT in ax.get_xlabel() for ax in fig.axes)
    assert effect_direction("OR", "responder_essdai3").startswith("← favours control")
    assert effect_direction("ROMC", "treg_pct_cd4") == "higher Treg →"
    assert effect_direction("MD", "essdai") is None        # direction of a score is not assumed


def test_every_pipeline_figure_names_analysis_and_outcome():
    from bayes_il2.plots.titles import figure_heading, stamp_title

    fig = stamp_title(plots.parameter_forest(make_fit(effect_table(4))), figure_heading("AE vs placebo", "any_ae"))
    heads = [t.get_text() for t in fig.texts if t.get_gid() == "figure_heading"]
    assert heads == ["AE vs placebo: any adverse event"]
