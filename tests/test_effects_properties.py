"""Properties every effect-size function must have, checked with hypothesis."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bayes_il2 import effects as fx

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# sampling tests draw data from a seed: derandomized so that a run is reproducible, and tolerances
# wide enough for the estimators' own sampling error (the range is the noisiest summary)
SLOW = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def two_by_two(draw, allow_zero=True):
    n1 = draw(st.integers(1, 400))
    n2 = draw(st.integers(1, 400))
    lo = 0 if allow_zero else 1
    assume(n1 >= 2 * lo and n2 >= 2 * lo)
    a = draw(st.integers(lo, n1 - lo))
    c = draw(st.integers(lo, n2 - lo))
    return a, n1, c, n2


positive = st.floats(0.05, 500, allow_nan=False, allow_infinity=False)
size = st.integers(3, 500)
scale = st.floats(1e-3, 1e3, allow_nan=False)
corr = st.floats(-0.95, 0.95)


# --------------------------------------------------------------------------- swapping arms
@FAST
@given(two_by_two(), st.sampled_from(["none", "only0", "all", "sweeting"]))
def test_swapping_arms_negates_log_or_rr_and_rd(cells, correction):
    a, n1, c, n2 = cells
    for f in (fx.log_odds_ratio, fx.log_risk_ratio, fx.risk_difference):
        fwd = f(a, n1, c, n2, correction=correction, double_zero="keep")
        rev = f(c, n2, a, n1, correction=correction, double_zero="keep")
        if np.isnan(fwd.yi):
            assert np.isnan(rev.yi)
            continue
        assert rev.yi == pytest.approx(-fwd.yi, abs=1e-12)
        assert rev.vi == pytest.approx(fwd.vi, rel=1e-12)


@FAST
@given(two_by_two())
def test_swapping_events_and_non_events_negates_log_or(cells):
    a, n1, c, n2 = cells
    fwd = fx.log_odds_ratio(a, n1, c, n2, double_zero="keep")
    rev = fx.log_odds_ratio(n1 - a, n1, n2 - c, n2, double_zero="keep")
    assert rev.yi == pytest.approx(-fwd.yi, abs=1e-12)


# --------------------------------------------------------------------------- positive variances
@FAST
@given(two_by_two(), st.sampled_from(["only0", "all", "sweeting"]))
def test_corrected_binary_variances_positive_and_finite(cells, correction):
    a, n1, c, n2 = cells
    for f in (fx.log_odds_ratio, fx.log_risk_ratio):
        e = f(a, n1, c, n2, correction=correction, double_zero="keep")
        assert np.isfinite(e.yi) and e.vi > 0
    e = fx.risk_difference(a, n1, c, n2, correction=correction)
    assert e.vi > 0


@FAST
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_single_arm_variances_positive(xn):
    x, n = xn
    assert fx.logit_proportion(x, n).vi > 0
    assert fx.arcsine_proportion(x, n).vi > 0
    assert fx.raw_proportion(x, n, correction="only0").vi > 0


@FAST
@given(positive, positive, size, positive, positive, size)
def test_continuous_variances_positive(m1, s1, n1, m2, s2, n2):
    for f in (fx.mean_difference, fx.standardized_mean_difference, fx.log_ratio_of_means):
        assert f(m1, s1, n1, m2, s2, n2).vi > 0


@FAST
@given(positive, positive, positive, positive, size, corr)
def test_prepost_variances_positive(m0, s0, m1, s1, n, r):
    for measure in ("MC", "SMCC", "SMCR", "ROMC"):
        assert fx.prepost_effect(measure, m0, s0, m1, s1, n, r).vi > 0


# --------------------------------------------------------------------------- unit invariance
@FAST
@given(positive, positive, size, positive, positive, size, scale)
def test_rom_and_smd_invariant_to_units(m1, s1, n1, m2, s2, n2, k):
    for f in (fx.log_ratio_of_means, fx.standardized_mean_difference):
        base = f(m1, s1, n1, m2, s2, n2)
        scaled = f(k * m1, k * s1, n1, k * m2, k * s2, n2)
        assert scaled.yi == pytest.approx(base.yi, rel=1e-9, abs=1e-12)
        assert scaled.vi == pytest.approx(base.vi, rel=1e-9)


@FAST
@given(positive, positive, positive, positive, size, corr, scale)
def test_romc_smcr_smcc_invariant_to_units(m0, s0, m1, s1, n, r, k):
    for measure in ("ROMC", "SMCR", "SMCC"):
        base = fx.prepost_effect(measure, m0, s0, m1, s1, n, r)
        scaled = fx.prepost_effect(measure, k * m0, k * s0, k * m1, k * s1, n, r)
        assert scaled.yi == pytest.approx(base.yi, rel=1e-9, abs=1e-12)
        assert scaled.vi == pytest.approx(base.vi, rel=1e-9)


@FAST
@given(positive, positive, size, positive, positive, size, scale)
def test_md_scales_with_units(m1, s1, n1, m2, s2, n2, k):
    base = fx.mean_difference(m1, s1, n1, m2, s2, n2)
    scaled = fx.mean_difference(k * m1, k * s1, n1, k * m2, k * s2, n2)
    assert scaled.yi == pytest.approx(k * base.yi, rel=1e-9, abs=1e-9)
    assert scaled.vi == pytest.approx(k ** 2 * base.vi, rel=1e-9)


# --------------------------------------------------------------------------- correlation
@FAST
@given(positive, positive, positive, positive, size, corr, corr)
def test_higher_correlation_never_raises_the_mean_change_variance_for_equal_sds(m0, s, m1, _s, n, r1, r2):
    lo, hi = sorted((r1, r2))
    assert fx.mean_change(m0, s, m1, s, n, hi).vi <= fx.mean_change(m0, s, m1, s, n, lo).vi + 1e-12


def test_over_r_returns_one_row_per_r_and_study():
    out = fx.over_r("ROMC", [0.2, 0.5, 0.8], [5.0, 4.0], [1.0, 1.2], [8.0, 6.0], [2.0, 1.5], [20, 15],
                    ids=["A", "B"])
    assert list(out.columns) == ["r", "row", "measure", "yi", "vi"]
    assert len(out) == 6 and set(out["row"]) == {"A", "B"}
    va = out[out["row"] == "A"].sort_values("r")["vi"].to_numpy()
    assert np.all(np.diff(va) < 0)  # positively correlated log means: more r, less variance
    assert out.groupby("row")["yi"].nunique().eq(1).all()


# --------------------------------------------------------------------------- conversions round-trip
@SLOW
@given(st.integers(0, 2 ** 31 - 1), st.floats(-50, 50), st.floats(0.5, 20), st.integers(400, 3000))
def test_quantile_conversions_round_trip_on_normal_samples(seed, mu, sigma, n):
    x = np.random.default_rng(seed).normal(mu, sigma, n)
    q1, m, q3 = np.percentile(x, [25, 50, 75])
    a, b = x.min(), x.max()
    mean_true, sd_true = x.mean(), x.std(ddof=1)
    for (mean, sd), sd_tol in ((fx.mean_sd_from_median_iqr(m, q1, q3, n), 0.15),
                               (fx.mean_sd_from_median_range(m, a, b, n), 0.45),
                               (fx.mean_sd_from_five_numbers(a, q1, m, q3, b, n), 0.25)):
        # sampling error of a median / quantile based estimate is a few sigma/sqrt(n); allow 6
        assert abs(mean - mean_true) < 6 * sigma / np.sqrt(n)
        assert abs(sd / sd_true - 1) < sd_tol


@FAST
@given(positive, positive, st.integers(2, 5000))
def test_sd_se_ci_round_trip(mu, sd, n):
    from scipy import stats
    se = sd / np.sqrt(n)
    assert fx.sd_from_se(se, n) == pytest.approx(sd)
    crit = stats.t.ppf(0.975, n - 1) if n < 60 else stats.norm.ppf(0.975)
    assert fx.sd_from_ci(mu - crit * se, mu + crit * se, n) == pytest.approx(sd, rel=1e-9)


@FAST
@given(st.floats(-10, 10).filter(lambda v: abs(v) > 1e-3), st.floats(0.01, 5), st.integers(4, 400))
def test_se_from_p_value_round_trip(est, se, df):
    from scipy import stats
    p = 2 * stats.t.sf(abs(est) / se, df)
    assume(1e-300 < p < 1 - 1e-9)
    assert fx.se_from_p_value(est, p, df=df) == pytest.approx(se, rel=1e-6)


@FAST
@given(size, st.floats(-20, 20), positive, size, st.floats(-20, 20), positive)
def test_combine_groups_is_symmetric(n1, m1, s1, n2, m2, s2):
    a = fx.combine_groups(n1, m1, s1, n2, m2, s2)
    b = fx.combine_groups(n2, m2, s2, n1, m1, s1)
    assert a.n == b.n and a.mean == pytest.approx(b.mean) and a.sd == pytest.approx(b.sd)


@SLOW
@given(st.integers(0, 2 ** 31 - 1), st.floats(-1, 1), st.floats(0.1, 1.0), st.integers(400, 3000))
def test_log_fold_from_median_iqr_round_trip_on_lognormal_folds(seed, mu, sigma, n):
    logs = np.random.default_rng(seed).normal(mu, sigma, n)
    q1, m, q3 = np.exp(np.percentile(logs, [25, 50, 75]))
    yi, vi = fx.log_fold_from_median_iqr(m, q1, q3, n)
    assert abs(yi - logs.mean()) < 6 * sigma / np.sqrt(n)
    assert abs(np.sqrt(vi * n) / logs.std(ddof=1) - 1) < 0.2


# --------------------------------------------------------------------------- zero cells
def test_corrections_are_explicit_and_flagged():
    none = fx.log_odds_ratio([0, 3], [10, 10], [2, 4], [10, 10], correction="none")
    assert np.isnan(none.yi[0]) and none.undefined.tolist() == [True, False]
    only0 = fx.log_odds_ratio([0, 3], [10, 10], [2, 4], [10, 10], correction="only0")
    assert only0.corrected.tolist() == [True, False]
    assert only0.yi[0] == pytest.approx(np.log(0.5 * 8.5 / (10.5 * 2.5)))
    every = fx.log_odds_ratio([0, 3], [10, 10], [2, 4], [10, 10], correction="all")
    assert every.corrected.tolist() == [True, True]
    assert every.yi[1] == pytest.approx(np.log(3.5 * 6.5 / (7.5 * 4.5)))


def test_sweeting_correction_is_proportional_to_arm_sizes():
    # n1 = 10, n2 = 30: treatment cells + 2*0.5*10/40 = 0.25, control cells + 0.75. The orientation
    # (each arm's correction proportional to its own size, i.e. to the reciprocal of the other arm's
    # size once the two are scaled to sum to 1) is the one of the R package meta's incr = "TACC"
    # (metabin: incr.e = n.e/(n.e + n.c), incr.c = n.c/(n.e + n.c); read 2026-11-26).
    e = fx.log_odds_ratio(0, 10, 3, 30, correction="sweeting")
    assert e.yi == pytest.approx(np.log(0.25 * 27.75 / (10.25 * 3.75)))
    # equal arms: the same as adding 0.5
    assert fx.log_odds_ratio(0, 20, 3, 20, correction="sweeting").yi == pytest.approx(
        fx.log_odds_ratio(0, 20, 3, 20, correction="only0").yi)


def test_double_zero_studies_reported_and_handled_per_argument():
    ex = fx.log_risk_ratio([0, 1], [10, 10], [0, 2], [12, 12])
    assert ex.double_zero.tolist() == [True, False] and np.isnan(ex.yi[0]) and np.isfinite(ex.yi[1])
    kept = fx.log_risk_ratio([0, 1], [10, 10], [0, 2], [12, 12], double_zero="keep")
    assert kept.double_zero.tolist() == [True, False] and np.isfinite(kept.yi[0])
    # all events in both arms is a double-zero study too (no non-events)
    assert fx.log_odds_ratio(10, 10, 12, 12).double_zero.tolist() == [True]


def test_series_in_series_out():
    import pandas as pd
    idx = pd.Index(["S1", "S2"], name="study_id")
    e = fx.logit_proportion(pd.Series([2, 3], index=idx), pd.Series([10, 12], index=idx))
    assert isinstance(e.yi, pd.Series) and list(e.yi.index) == ["S1", "S2"]
    frame = e.to_frame()
    assert list(frame.columns[:3]) == ["yi", "vi", "measure"]
