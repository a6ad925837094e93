"""Each effect-size measure against a published worked example, to the printed precision.

Sources
-------
[B]  Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis.
     Wiley. Chapter 4 (worked example for independent groups: X1 = 103, X2 = 100, S1 = 5.5,
     S2 = 4.5, n1 = n2 = 50) and chapter 5 (worked example: 5/100 events vs 10/100 events).
[M]  Morris SB (2008). Estimating effect sizes from pretest-posttest-control group designs.
     Organ Res Methods 11:364-386, Table 1 (p. 368), and the per-arm SMCR/SMCC values metafor's
     test suite prints for the same data (tests/testthat/test_analysis_example_morris2008.r).
[BCG] Colditz et al. (1994) BCG trials (metafor dat.bcg), trial 1: 4/123 vs 11/139; log RR and
     variance as printed in metafor's tests/testthat/test_escalc.r.
[W]  Wan X, Wang W, Liu J, Tong T (2014). BMC Med Res Methodol 14:135, Table 1 (values of xi(n),
     the expected range of n standard normals, to 3 decimals).
"""
from __future__ import annotations

import numpy as np
import pytest

from bayes_il2 import effects as fx
from bayes_il2.errors import EffectSizeError


def r4(x):
    return np.round(np.asarray(x, dtype=float), 4)


# --------------------------------------------------------------------------- Borenstein ch. 4
def test_md_borenstein_ch4():
    yi, vi = fx.mean_difference(103, 5.5, 50, 100, 4.5, 50)
    assert round(yi, 4) == 3.0
    assert round(vi, 4) == 1.0100          # [B] V_D = 1.0100
    assert round(np.sqrt(vi), 4) == 1.0050  # [B] SE_D = 1.0050


def test_smd_hedges_g_borenstein_ch4():
    g, vg = fx.standardized_mean_difference(103, 5.5, 50, 100, 4.5, 50, vtype="hedges")
    assert round(g, 4) == 0.5924            # [B] g = 0.5924
    assert round(vg, 4) == 0.0411           # [B] V_g = 0.0411
    assert round(np.sqrt(vg), 4) == 0.2028  # [B] SE_g = 0.2028
    assert round(float(fx.hedges_j(98)), 4) == 0.9923  # [B] J = 0.9923
    d = g / fx.hedges_j(98)
    assert round(float(d), 4) == 0.5970     # [B] d = 0.5970


def test_exact_hedges_correction_close_to_borenstein_approximation():
    m = np.arange(2, 200)
    approx = 1 - 3 / (4 * m - 1)
    assert np.all(np.abs(fx.hedges_j(m) - approx) < 0.008)
    # exact small values: J(2) = Gamma(1)/(1 * Gamma(1/2)) = 1/sqrt(pi)
    assert fx.hedges_j(2) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-12)


# --------------------------------------------------------------------------- Borenstein ch. 5
def test_log_risk_ratio_borenstein_ch5():
    yi, vi = fx.log_risk_ratio(5, 100, 10, 100)
    assert round(yi, 4) == -0.6931          # [B] ln RR = -0.6931
    assert round(vi, 4) == 0.2800           # [B] V = 0.2800
    assert round(np.sqrt(vi), 4) == 0.5292  # [B] SE = 0.5292


def test_log_odds_ratio_borenstein_ch5():
    yi, vi = fx.log_odds_ratio(5, 100, 10, 100)
    assert round(yi, 4) == -0.7472          # [B] ln OR = -0.7472
    assert round(vi, 4) == 0.3216           # [B] V = 0.3216
    assert round(np.sqrt(vi), 4) == 0.5671  # [B] SE = 0.5671


def test_risk_difference_borenstein_ch5():
    yi, vi = fx.risk_difference(5, 100, 10, 100)
    assert round(yi, 4) == -0.0500          # [B] RD = -0.0500
    assert round(vi, 6) == 0.001375         # [B] V = 0.001375
    assert round(np.sqrt(vi), 4) == 0.0371  # [B] SE = 0.0371


def test_log_risk_ratio_bcg_trial_1():
    yi, vi = fx.log_risk_ratio(4, 4 + 119, 11, 11 + 128)
    assert round(yi, 4) == -0.8893          # [BCG]
    assert round(vi, 4) == 0.3256


# --------------------------------------------------------------------------- Morris 2008
T = dict(m_pre=[30.6, 23.5, 0.5, 53.4, 35.6], m_post=[38.5, 26.8, 0.7, 75.9, 36.0],
         sd_pre=[15.0, 3.1, 0.1, 14.5, 4.7], sd_post=[11.6, 4.1, 0.1, 4.4, 4.6], ni=[20, 50, 9, 10, 14],
         ri=[.47, .64, .77, .89, .44])
C = dict(m_pre=[23.1, 24.9, 0.6, 55.7, 34.8], m_post=[19.7, 25.3, 0.6, 60.7, 33.4],
         sd_pre=[13.8, 4.1, 0.2, 17.3, 3.1], sd_post=[14.8, 3.3, 0.2, 17.9, 6.9], ni=[20, 42, 9, 11, 14],
         ri=[.47, .64, .77, .89, .44])


def _smcr(arm):
    return fx.standardized_mean_change_raw(arm["m_pre"], arm["sd_pre"], arm["m_post"], arm["ni"], arm["ri"])


def test_smcr_morris2008_per_arm():
    t, c = _smcr(T), _smcr(C)
    np.testing.assert_array_equal(r4(t.yi), [0.5056, 1.0481, 1.8054, 1.4181, 0.0801])
    np.testing.assert_array_equal(r4(t.vi), [0.0594, 0.0254, 0.2322, 0.1225, 0.0802])
    np.testing.assert_array_equal(r4(c.yi), [-0.2365, 0.0958, 0.0000, 0.2667, -0.4250])
    np.testing.assert_array_equal(r4(c.vi), [0.0544, 0.0173, 0.0511, 0.0232, 0.0864])


def test_smcr_difference_morris2008_table1():
    t, c = _smcr(T), _smcr(C)
    # [M] Table 1, p. 368: d_ppc2 to 2 decimals
    np.testing.assert_array_equal(np.round(t.yi - c.yi, 2), [0.74, 0.95, 1.81, 1.15, 0.51])


def test_smcc_morris2008_per_arm():
    t, c = fx.standardized_mean_change_change(**T), fx.standardized_mean_change_change(**C)
    np.testing.assert_array_equal(r4(t.yi), [0.5417, 1.0198, 2.6619, 1.9088, 0.0765])
    np.testing.assert_array_equal(r4(t.vi), [0.0573, 0.0304, 0.5048, 0.2822, 0.0716])
    np.testing.assert_array_equal(r4(c.yi), [-0.2213, 0.1219, 0.0000, 0.5575, -0.2126])
    np.testing.assert_array_equal(r4(c.vi), [0.0512, 0.0240, 0.1111, 0.1050, 0.0730])


# --------------------------------------------------------------------------- Wan 2014 Table 1
WAN_TABLE_1 = {1: 0.0, 2: 1.128, 3: 1.693, 4: 2.059, 5: 2.326, 6: 2.534, 7: 2.704, 8: 2.847, 9: 2.970,
               10: 3.078, 11: 3.173, 15: 3.472, 20: 3.735, 25: 3.931, 30: 4.086, 35: 4.213, 40: 4.322,
               45: 4.415, 50: 4.498}


def test_expected_normal_range_matches_wan_table_1():
    n = np.array(list(WAN_TABLE_1))
    np.testing.assert_array_equal(np.round(fx.expected_normal_range(n), 3), list(WAN_TABLE_1.values()))


def test_wan_xi_approximates_table_1():
    # eq. 7 is an approximation of Table 1; documented to be within a few hundredths for n >= 2
    n = np.array([k for k in WAN_TABLE_1 if k >= 2])
    assert np.max(np.abs(fx.xi(n) - np.array([WAN_TABLE_1[k] for k in n]))) < 0.06


def test_sd_from_range_exact_uses_table_1_divisor():
    assert fx.sd_from_range(0.0, 4.498, 50, exact_range=True) == pytest.approx(1.0, abs=1e-4)


# --------------------------------------------------------------------------- formulas by hand
def test_median_iqr_conversion_formulas():
    # Wan 2014 eq. 16 and Luo 2018 weights, evaluated by hand for n = 100
    n, q1, m, q3 = 100, 0.02, 0.03, 0.04
    mean, sd = fx.mean_sd_from_median_iqr(m, q1, q3, n)
    from scipy import stats
    z = 2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))
    assert sd == pytest.approx((q3 - q1) / z, rel=1e-12)
    # the same S3 formula evaluated in R in a Cross Validated answer ("How to calculate mean and
    # standard deviation from median and quartiles") prints 0.0150441
    assert round(sd, 7) == 0.0150441
    w = 0.7 + 0.39 / n
    assert mean == pytest.approx(w * (q1 + q3) / 2 + (1 - w) * m, rel=1e-12)
    assert fx.mean_sd_from_median_iqr(m, q1, q3, n, mean_method="wan").mean == pytest.approx((q1 + m + q3) / 3)


def test_five_number_conversion_formulas():
    a, q1, m, q3, b, n = 1.0, 3.0, 4.0, 6.0, 12.0, 40
    mean, sd = fx.mean_sd_from_five_numbers(a, q1, m, q3, b, n)
    w1, w2 = 2.2 / (2.2 + n ** 0.75), 0.7 - 0.72 / n ** 0.55
    assert mean == pytest.approx(w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m)
    w = 1 / (1 + 0.07 * n ** 0.6)
    assert sd == pytest.approx(w * (b - a) / fx.xi(n) + (1 - w) * (q3 - q1) / fx.eta(n))
    wan = fx.mean_sd_from_five_numbers(a, q1, m, q3, b, n, mean_method="wan", sd_method="wan")
    assert wan.mean == pytest.approx((a + 2 * q1 + 2 * m + 2 * q3 + b) / 8)
    assert wan.sd == pytest.approx((b - a) / (2 * fx.xi(n)) + (q3 - q1) / (2 * fx.eta(n)))


def test_median_range_conversion_formulas():
    a, m, b, n = 2.0, 5.0, 14.0, 30
    mean, sd = fx.mean_sd_from_median_range(m, a, b, n)
    w = 4 / (4 + n ** 0.75)
    assert mean == pytest.approx(w * (a + b) / 2 + (1 - w) * m)
    assert sd == pytest.approx((b - a) / fx.xi(n))
    assert fx.mean_sd_from_median_range(m, a, b, n, mean_method="wan").mean == pytest.approx((a + 2 * m + b) / 4)


def test_cochrane_sd_from_ci_divisor_3_92_for_large_n():
    # Cochrane Handbook 6.5.2.2: SD = sqrt(N) (upper - lower) / 3.92 for a 95% CI and large N
    assert fx.sd_from_ci(10.0, 13.92, 100) == pytest.approx(10.0 * 3.92 / (2 * 1.959963985), rel=1e-9)
    # small N uses t with N - 1 df
    from scipy import stats
    assert fx.sd_from_ci(0.0, 1.0, 25) == pytest.approx(5 / (2 * stats.t.ppf(0.975, 24)))
    assert fx.sd_from_ci(0.0, 1.0, 25, dist="z") == pytest.approx(5 / 3.919927969)


def test_cochrane_se_from_ci_and_p_value():
    from scipy import stats
    assert fx.se_from_ci(-1.96, 1.96) == pytest.approx(1.0, rel=1e-4)
    assert fx.se_from_ci(0.5, 2.0, ratio=True) == pytest.approx((np.log(2) - np.log(0.5)) / (2 * 1.959963985))
    assert fx.se_from_p_value(1.0, 2 * stats.norm.sf(2.5)) == pytest.approx(0.4)
    se = 2.0 / stats.t.ppf(1 - 0.01 / 2, 48)
    assert fx.sd_from_p_value(2.0, 0.01, 25, 25) == pytest.approx(se / np.sqrt(2 / 25))


def test_single_arm_proportions_by_hand():
    yi, vi = fx.logit_proportion(8, 20)
    assert yi == pytest.approx(np.log(8 / 12)) and vi == pytest.approx(1 / 8 + 1 / 12)
    yi, vi = fx.raw_proportion(8, 20)
    assert yi == 0.4 and vi == pytest.approx(0.4 * 0.6 / 20)
    yi, vi = fx.arcsine_proportion(8, 20)
    assert yi == pytest.approx(np.arcsin(np.sqrt(0.4))) and vi == pytest.approx(1 / 80)


def test_romc_reduces_to_rom_at_zero_correlation():
    a = fx.log_ratio_of_means_paired(5.2, 1.4, 8.9, 2.1, 19, 0.0)
    b = fx.log_ratio_of_means(8.9, 2.1, 19, 5.2, 1.4, 19)
    assert a.yi == pytest.approx(b.yi) and a.vi == pytest.approx(b.vi)


def test_romc_variance_matches_simulation():
    """Lajeunesse (2011) delta-method variance vs the variance of log(mean_post/mean_pre) over
    simulated paired samples (n = 60, r = 0.6); tolerance from the MC error of a variance."""
    rng = np.random.default_rng(20110901)
    n, r, reps = 60, 0.6, 4000
    mu, sd = np.array([5.0, 8.0]), np.array([1.0, 1.8])
    cov = np.array([[sd[0] ** 2, r * sd[0] * sd[1]], [r * sd[0] * sd[1], sd[1] ** 2]])
    draws = rng.multivariate_normal(mu, cov, size=(reps, n)).mean(axis=1)
    empirical = np.var(np.log(draws[:, 1] / draws[:, 0]), ddof=1)
    predicted = fx.log_ratio_of_means_paired(mu[0], sd[0], mu[1], sd[1], n, r).vi
    assert abs(empirical - predicted) < 4 * predicted * np.sqrt(2 / (reps - 1))


def test_mean_change_variance_borenstein_matched_groups():
    # [B] ch. 4 matched groups: V = S_diff^2 / n with S_diff^2 = S1^2 + S2^2 - 2 r S1 S2
    yi, vi = fx.mean_change(100, 4.5, 103, 5.5, 50, 0.7)
    assert yi == 3.0 and vi == pytest.approx((5.5 ** 2 + 4.5 ** 2 - 2 * 0.7 * 5.5 * 4.5) / 50)


def test_combine_groups_equals_pooled_sample():
    rng = np.random.default_rng(7)
    x, y = rng.normal(3, 1, 17), rng.normal(5, 2, 29)
    n, m, s = fx.combine_groups(17, x.mean(), x.std(ddof=1), 29, y.mean(), y.std(ddof=1))
    both = np.concatenate([x, y])
    assert n == 46 and m == pytest.approx(both.mean()) and s == pytest.approx(both.std(ddof=1))


def test_escalc_dispatches_by_code():
    assert tuple(fx.escalc("OR", ai=5, n1i=100, ci=10, n2i=100)) == tuple(fx.log_odds_ratio(5, 100, 10, 100))
    with pytest.raises(EffectSizeError, match="unknown measure 'XYZ'"):
        fx.escalc("XYZ", ai=1)


def test_measures_table_and_natural_scale():
    codes = set(fx.MEASURES["code"])
    assert {"OR", "RR", "RD", "PLO", "PR", "PAS", "MD", "SMD", "ROM", "MC", "SMCR", "SMCC", "ROMC"} <= codes
    assert fx.MEASURES["reference"].str.len().min() > 0
    for code in ("OR", "RR", "ROM", "ROMC"):
        assert fx.natural_scale(code)(np.log(2.0)) == pytest.approx(2.0)
    assert fx.natural_scale("PLO")(0.0) == pytest.approx(0.5)
    for code in ("MD", "SMD", "RD", "PR", "MC", "SMCR"):
        assert fx.natural_scale(code)(1.25) == 1.25
