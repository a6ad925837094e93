"""Effect-size measures and conversions against published numbers, to the printed precision.

Complements tests/test_effects_reference.py (Borenstein, Morris, BCG, Wan Table 1) with the measures
that file checks only against formulas. Every expected number below is printed in the source named
beside it; inputs are the published data. Only numbers were taken from the sources.

Sources
-------
[MF]  metafor's test suite (Viechtbauer W, metafor R package, tests/testthat/test_misc_escalc.r and
      its to.long() tests, checked 2026): printed yi/vi for measures ROM, MC, ROMC, PAS and
      PR (4 decimals). metafor is the reference implementation our codes follow (Viechtbauer 2010,
      J Stat Softw 36(3)).
[N99] Normand S-LT (1999). Meta-analysis: formulating, evaluating, combining, and reporting.
      Stat Med 18:321-359, Table I (length of hospital stay, specialist vs routine stroke care);
      the same data are metafor's dat.normand1999 (metadat data-raw/dat.normand1999.txt).
[dB]  de Bruin M et al. (2009). Health Psychol 28:668-674 (metafor dat.debruin2009); study 1 has
      11 of 29 adherent patients (xi, ni - xi = 11, 18 as printed by metafor's to.long test).
[S10] Stijnen T, Hamza TH, Özdemir P (2010). Random effects meta-analysis of event outcome in the
      framework of the generalized linear mixed model with applications in sparse data.
      Stat Med 29:3046-3067, Table II (p. 3050): normal-normal model for the logit event rate
      per arm of the catheter-infection trials (Niel-Weise et al. 2007; metafor dat.nielweise2007).
[CH]  Higgins JPT, Li T, Deeks JJ (eds) (2023). Cochrane Handbook version 6.4, chapter 6:
      6.5.2.2 (divisors 3.92 / 3.29 / 5.15 for 95/90/99% CIs; t value 2.0639 and divisor 4.128
      for a group of 25), 6.5.2.3 (worked example: groups of 25 and 22, MD 3.8, P = 0.008, t with
      45 df = 2.78, SE = 3.8/2.78 = 1.37), 6.5.2.5 (SD ≈ IQR/1.35 for large normal samples).
      The same numbers appear in version 5.1, section 7.7.3.
[STD] Chang A. StatsToDo: "Combine Means and SDs Into One Group Program"
      (www.statstodo.com/CombineMeansSDs.php, stored copy read 2026-11-26): three groups
      (n, mean, SD) = (10, 11.8, 2.4), (20, 15.3, 3.2), (15, 8.4, 4.1) combined into n 45,
      mean 12.2222, SD 4.5028 by the Cochrane Handbook formula applied sequentially (the page
      prints the same result from sums of x and x^2), and each group's SE = SD/sqrt(n) printed
      as 0.7589, 0.7155, 1.0586.

[W19] Woodward M (2019). Rationale and tutorial for analysing and reporting sex differences in
      cardiovascular associations. Heart 105:1701-1708, Table 4: RR 2.15 (95% CI 1.33 to 3.47) ->
      ln limits 0.285179 and 1.244155, SE of ln RR 0.244637 (the CI width over 2 x 1.96).
[MFD] Viechtbauer W. metafor 4.7-4 reference page of conv.fivenum(), rendered Examples
      (wviechtb.github.io/metafor/reference/conv.fivenum.html; repository wviechtb/metafor,
      docs/reference/conv.fivenum.html, commit 0014f62b): n = 20 and (min, median, max) =
      (2, 6, 14) -> mean 6.594468, SD 3.211576 [Luo S1, Wan eq. 9]; (q1, median, q3) = (4, 6, 10)
      -> mean 6.719500, SD 4.787076 [Luo S2, Wan eq. 16]; all five (2, 4, 6, 10, 14) -> mean
      6.938841, SD 3.679435 [Luo S3, Shi et al. 2020 eq. 10], printed to 6 decimals. The same page
      prints the skewness tests of Shi et al. (2023) (tval / crit: 0.333 / 0.416, 0.333 / 0.578,
      0.491 / 0.666, none significant; for 2, 4, 6, 14, 20: 0.818 / 0.666, significant, and on the
      log scale 0.353 / 0.666) and the log-normal conversion of Shi et al. (2020b) for 2, 4, 6, 14,
      20 (n = 20): mean 8.758702, SD 6.740320.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from bayes_il2 import effects as fx


def r4(x):
    return np.round(np.asarray(x, dtype=float), 4)


# --------------------------------------------------------------------------- ROM (Hedges et al. 1999)
# [N99] Table I, studies 1-4 (Edinburgh, Orpington-Mild, -Moderate, -Severe): specialist care (group 1)
# vs routine care (group 2), mean (SD) length of stay in days.
NORMAND = dict(m1i=[55, 27, 64, 66], sd1i=[47, 7, 17, 20], n1i=[155, 31, 75, 18],
               m2i=[75, 29, 119, 137], sd2i=[64, 4, 29, 48], n2i=[156, 32, 71, 18])


def test_rom_normand1999_metafor():
    yi, vi = fx.log_ratio_of_means(**NORMAND)
    # [MF] test_misc_escalc.r, "measure='SMD/SMDH/ROM'"
    np.testing.assert_array_equal(r4(yi), [-0.3102, -0.0715, -0.6202, -0.7303])
    np.testing.assert_array_equal(r4(vi), [0.0094, 0.0028, 0.0018, 0.0119])


def test_normand_data_reproduce_metafor_smd_too():
    """The same inputs give metafor's printed SMD (vtype "LS", its default), confirming the data."""
    yi, vi = fx.standardized_mean_difference(**NORMAND, vtype="LS")
    np.testing.assert_array_equal(r4(yi), [-0.3552, -0.3479, -2.3176, -1.8880])
    np.testing.assert_array_equal(r4(vi), [0.0131, 0.0645, 0.0458, 0.1606])


def test_smd_default_variance_is_metafors_ls():
    """Without vtype the SMD variance is metafor's default ("LS"): users comparing get the printed values."""
    default = fx.standardized_mean_difference(**NORMAND)
    ls = fx.standardized_mean_difference(**NORMAND, vtype="LS")
    np.testing.assert_array_equal(default.vi, ls.vi)
    np.testing.assert_array_equal(r4(fx.escalc("SMD", **NORMAND).vi), [0.0131, 0.0645, 0.0458, 0.1606])


def test_escalc_takes_metafors_names_for_two_by_two_tables():
    es = fx.escalc("RR", ai=4, bi=119, ci=11, di=128)     # [BCG] trial 1 as cells, metafor's dat.bcg names
    assert round(float(es.yi), 4) == -0.8893 and round(float(es.vi), 4) == 0.3256
    old = fx.escalc("RR", ai=4, n1i=123, ci=11, n2i=139)  # the totals still work
    assert float(old.yi) == float(es.yi)


def test_escalc_smcr_with_metafors_names_matches_metafor_morris2008():
    """metafor tests/testthat/test_analysis_example_morris2008.r: escalc(measure="SMCR", m1i=m_post,
    m2i=m_pre, sd1i=sd_pre, ni, ri), treatment group."""
    es = fx.escalc("SMCR", m1i=[38.5, 26.8, 0.7, 75.9, 36.0], m2i=[30.6, 23.5, 0.5, 53.4, 35.6],
                   sd1i=[15.0, 3.1, 0.1, 14.5, 4.7], ni=[20, 50, 9, 10, 14], ri=[.47, .64, .77, .89, .44])
    np.testing.assert_array_equal(r4(es.yi), [0.5056, 1.0481, 1.8054, 1.4181, 0.0801])
    np.testing.assert_array_equal(r4(es.vi), [0.0594, 0.0254, 0.2322, 0.1225, 0.0802])


def test_escalc_rejects_a_cell_and_a_total_for_the_same_arm():
    from bayes_il2.errors import EffectSizeError

    with pytest.raises(EffectSizeError, match="give bi or n1i, not both"):
        fx.escalc("OR", ai=4, bi=119, n1i=123, ci=11, di=128)


def test_single_arm_log_mean_fold_delta_method_adds_up_to_metafor_rom():
    """Per arm, log_fold_from_mean_sd gives log(mean) with the delta-method variance sd^2/(n mean^2)
    (Hedges et al. 1999); the two arms of [N99] combine to metafor's printed ROM yi and vi."""
    t = fx.log_fold_from_mean_sd(NORMAND["m1i"], NORMAND["sd1i"], NORMAND["n1i"])
    c = fx.log_fold_from_mean_sd(NORMAND["m2i"], NORMAND["sd2i"], NORMAND["n2i"])
    np.testing.assert_array_equal(r4(t.yi - c.yi), [-0.3102, -0.0715, -0.6202, -0.7303])
    np.testing.assert_array_equal(r4(t.vi + c.vi), [0.0094, 0.0028, 0.0018, 0.0119])


def test_rom_escalc_dispatch_matches():
    a = fx.escalc("ROM", **NORMAND)
    np.testing.assert_array_equal(r4(a.yi), [-0.3102, -0.0715, -0.6202, -0.7303])


# --------------------------------------------------------------------------- MC and ROMC (paired)
# [MF] test_misc_escalc.r, "measure='MC/SMCRH'" and "measure='ROMC'": m1i = 26, m2i = 22,
# sd1i = sqrt(30), sd2i = sqrt(20), ni = 60, ri = 0.7. metafor computes m1i - m2i (MC) and
# log(m1i / m2i) (ROMC); our functions compute post minus (over) baseline, so metafor's m1i/sd1i map
# to our m_post/sd_post and m2i/sd2i to m_pre/sd_pre (both variances are symmetric in the swap).
PAIRED = dict(m_pre=22.0, sd_pre=np.sqrt(20), m_post=26.0, sd_post=np.sqrt(30), ni=60, ri=0.7)


def test_mean_change_metafor():
    yi, vi = fx.mean_change(**PAIRED)
    assert round(yi, 4) == 4.0000
    assert round(vi, 4) == 0.2618


def test_mean_change_from_the_change_sd_metafor():
    """A study reporting the SD of the changes directly: with that SD (here the one implied by [MF]'s
    inputs, sqrt(30 + 20 - 2 r sqrt(30 x 20))) vi = SD^2/n is metafor's printed 0.2618."""
    sd_change = np.sqrt(30 + 20 - 2 * 0.7 * np.sqrt(30 * 20))
    yi, vi = fx.mean_change_from_change(4.0, sd_change, 60)
    assert round(yi, 4) == 4.0000
    assert round(vi, 4) == 0.2618


def test_romc_lajeunesse_variance_metafor():
    yi, vi = fx.log_ratio_of_means_paired(**PAIRED)
    assert round(yi, 4) == 0.1671
    assert round(vi, 4) == 0.0004           # [MF]; Lajeunesse (2011) variance with the covariance term
    # the printed value can fail: without the -2 r ... covariance term vi would round to 0.0014
    no_cov = fx.log_ratio_of_means_paired(**{**PAIRED, "ri": 0.0}).vi
    assert round(no_cov, 4) == 0.0014


def test_prepost_effect_codes_match_published():
    assert round(fx.prepost_effect("MC", **PAIRED).vi, 4) == 0.2618
    assert round(fx.prepost_effect("ROMC", **PAIRED).yi, 4) == 0.1671


# --------------------------------------------------------------------------- single-arm proportions
def test_pas_metafor():
    yi, vi = fx.arcsine_proportion(10, 20)
    assert round(yi, 4) == 0.7854           # [MF] "measure='PAS'"
    assert round(vi, 4) == 0.0125


def test_pr_debruin2009_study1_metafor():
    yi, vi = fx.raw_proportion(11, 29)
    assert round(yi, 4) == 0.3793           # [MF] "escalc() with formula ... measure='PR'" (study 1 of [dB])
    assert round(vi, 4) == 0.0081


# [S10] data (metadat data-raw/dat.nielweise2007.txt): infections / patients per arm of 18 trials.
NIELWEISE_CTRL = ([3, 3, 9, 7, 6, 4, 3, 2, 19, 2, 7, 1, 5, 11, 0, 1, 3, 1],
                  [117, 35, 195, 136, 157, 139, 177, 39, 103, 122, 64, 58, 175, 180, 105, 262, 362, 69])
NIELWEISE_TRT = ([0, 1, 2, 0, 5, 1, 1, 1, 1, 1, 0, 0, 3, 6, 0, 0, 1, 4],
                 [116, 44, 208, 130, 151, 98, 174, 74, 97, 113, 66, 70, 188, 187, 118, 252, 345, 64])


def _reml(yi: np.ndarray, vi: np.ndarray) -> tuple[float, float, float]:
    """Random-effects mean, its SE and tau^2 by REML (the normal-normal model of [S10])."""
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)

    def neg_restricted_loglik(t2: float) -> float:
        w = 1 / (vi + t2)
        mu = np.sum(w * yi) / w.sum()
        return 0.5 * (np.sum(np.log(vi + t2)) + np.log(w.sum()) + np.sum(w * (yi - mu) ** 2))

    t2 = optimize.minimize_scalar(neg_restricted_loglik, bounds=(0.0, 10.0), method="bounded",
                                  options={"xatol": 1e-10}).x
    w = 1 / (vi + t2)
    return float(np.sum(w * yi) / w.sum()), float(np.sqrt(1 / w.sum())), float(t2)


@pytest.mark.parametrize("arm, mu, se, tau2, pred, lo, hi", [
    # [S10] Table II, normal-normal model; pred and CI are the back-transformed proportions
    # (the paper prints 0.035 and 0.056 for the control arm, metafor's test notes R gives 0.036 and
    # 0.055 from the unrounded estimates, as we do)
    ("control", -3.30, 0.24, 0.663, 0.036, 0.023, 0.055),
    ("treatment", -4.26, 0.26, 0.393, 0.014, 0.008, 0.023),
])
def test_plo_stijnen2010_table2(arm, mu, se, tau2, pred, lo, hi):
    """PLO yi/vi (0.5 added to arms with 0 events, metafor's to="only0" and our default) fed into a
    REML random-effects model reproduce [S10] Table II: this checks every per-arm logit and variance."""
    xi, ni = NIELWEISE_CTRL if arm == "control" else NIELWEISE_TRT
    effect = fx.logit_proportion(xi, ni)
    assert effect.corrected.any()            # both arms contain zero-event trials
    m, s, t2 = _reml(effect.yi, effect.vi)
    assert round(m, 2) == mu
    assert round(s, 2) == se
    assert round(t2, 3) == tau2
    z = stats.norm.ppf(0.975)
    expit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert round(expit(m), 3) == pred
    assert round(expit(m - z * s), 3) == lo
    assert round(expit(m + z * s), 3) == hi


def test_plo_without_correction_cannot_reproduce_stijnen():
    """The published analysis needs the 0.5 correction: without it the zero-event arms drop out."""
    effect = fx.logit_proportion(*NIELWEISE_CTRL, correction="none")
    assert np.isnan(effect.yi[14]) and effect.undefined[14]   # trial 15 (Yucel 2004): 0 of 105


# --------------------------------------------------------------------------- Cochrane 6.5.2
def test_cochrane_ci_divisors_large_sample():
    # [CH] 6.5.2.2: a 95% CI of a group mean is 3.92 SEs wide (large n); 3.29 for 90%, 5.15 for 99%
    for level, divisor in ((0.95, 3.92), (0.90, 3.29), (0.99, 5.15)):
        sd = fx.sd_from_ci(0.0, 1.0, 100, level=level, dist="z")   # sqrt(100) * 1 / divisor
        assert round(10 / sd, 2) == divisor


def test_cochrane_ci_divisor_t_for_n25():
    # [CH] 6.5.2.2: for a group of 25 the t value is 2.0639 and the divisor 2 x 2.0639 = 4.128
    sd = fx.sd_from_ci(0.0, 1.0, 25)          # default dist="auto" uses t below n = 60
    assert round(5 / sd, 3) == 4.128
    assert round(5 / sd / 2, 4) == 2.0639


def test_cochrane_p_value_example():
    # [CH] 6.5.2.3: n_E = 25, n_C = 22, MD = 3.8, P = 0.008 -> t(45) = 2.78, SE = 3.8 / 2.78 = 1.37
    se = fx.se_from_p_value(3.8, 0.008, df=25 + 22 - 2)
    assert round(3.8 / se, 2) == 2.78
    assert round(se, 2) == 1.37
    # within-group SD = SE / sqrt(1/n_E + 1/n_C) (the Handbook's formula in the same section)
    sd = fx.sd_from_p_value(3.8, 0.008, 25, 22)
    assert sd == pytest.approx(se / np.sqrt(1 / 25 + 1 / 22), rel=1e-12)


def test_cochrane_iqr_rule_is_wan_eta_limit():
    # [CH] 6.5.2.5: for a large normal sample SD ≈ IQR / 1.35; Wan's eta(n) tends to that divisor
    assert round(float(fx.eta(10 ** 6)), 2) == 1.35
    _, sd = fx.mean_sd_from_median_iqr(10.0, 5.0, 15.0, 10 ** 6)
    assert round(10 / sd, 2) == 1.35


def test_luo_mean_and_wan_sd_from_median_and_range_match_metablue_documented_output():
    """metaBLUE 1.0.0 (Tong's group; CRAN) documents, for min 1, median 4, max 10 and n = 30,
    Luo.mean(..., type="S1") = 4.356748 (Luo et al. 2018, w = 4/(4 + n^0.75)) and
    Wan.std(..., type="S1") = 2.205578 (Wan et al. 2014, eq. 9: range / xi(n))."""
    from bayes_il2.effects import mean_sd_from_median_range

    est = mean_sd_from_median_range(4.0, 1.0, 10.0, 30, mean_method="luo")
    assert round(float(est.mean), 6) == 4.356748
    assert round(float(est.sd), 6) == 2.205578
    assert round(float(fx.sd_from_range(1.0, 10.0, 30)), 6) == 2.205578   # a mean reported with a range


@pytest.mark.parametrize(("summary", "mean", "sd"), [
    ({"median": 6.0, "minimum": 2.0, "maximum": 14.0}, 6.594468, 3.211576),
    ({"median": 6.0, "q1": 4.0, "q3": 10.0}, 6.719500, 4.787076),
    ({"minimum": 2.0, "q1": 4.0, "median": 6.0, "q3": 10.0, "maximum": 14.0}, 6.938841, 3.679435),
], ids=["luo-wan-range", "luo-wan-iqr", "luo-shi-five-numbers"])
def test_mean_sd_conversions_match_metafor_conv_fivenum_documented_output(summary, mean, sd):
    """[MFD]: metafor's default "luo/wan/shi" conversions printed for n = 20, one case per scenario."""
    convert = {3: fx.mean_sd_from_median_range if "minimum" in summary else fx.mean_sd_from_median_iqr,
               5: fx.mean_sd_from_five_numbers}[len(summary)]
    est = convert(**summary, n=20)
    assert round(float(est.mean), 6) == mean
    assert round(float(est.sd), 6) == sd


@pytest.mark.parametrize(("summary", "dist", "tval", "crit", "skewed"), [
    ({"minimum": 2.0, "maximum": 14.0}, "normal", 0.333, 0.416, False),
    ({"q1": 4.0, "q3": 10.0}, "normal", 0.333, 0.578, False),
    ({"minimum": 2.0, "q1": 4.0, "q3": 10.0, "maximum": 14.0}, "normal", 0.491, 0.666, False),
    ({"minimum": 2.0, "q1": 4.0, "q3": 14.0, "maximum": 20.0}, "normal", 0.818, 0.666, True),
    ({"minimum": 2.0, "q1": 4.0, "q3": 14.0, "maximum": 20.0}, "lognormal", 0.353, 0.666, False),
], ids=["range", "iqr", "five", "five-skewed", "five-skewed-log"])
def test_skewness_test_matches_metafor_conv_fivenum_documented_output(summary, dist, tval, crit, skewed):
    """[MFD]: Shi et al. (2023) tests, median 6 and n = 20, printed to 3 decimals."""
    test = fx.skewness_test(6.0, 20, dist=dist, **summary)
    assert round(float(test.statistic), 3) == tval
    assert round(float(test.critical), 3) == crit
    assert bool(test.skewed) is skewed


def test_lognormal_five_number_conversion_matches_metafor_documented_output():
    """[MFD]: the right-skewed study, converted under a log-normal model (Shi et al. 2020b)."""
    est = fx.mean_sd_from_five_numbers(2.0, 4.0, 6.0, 14.0, 20.0, 20, dist="lognormal")
    assert round(float(est.mean), 6) == 8.758702
    assert round(float(est.sd), 6) == 6.740320


def test_log_fold_from_median_iqr_is_the_documented_conversion_on_the_log_scale():
    """Fold changes reported as median (IQR) are converted on the log scale; with log quartiles equal
    to [MFD]'s case 2 (4, 6, 10; n = 20) the mean and SD of the log folds are the printed 6.719500
    and 4.787076 (vi = SD^2/n)."""
    effect = fx.log_fold_from_median_iqr(np.exp(6.0), np.exp(4.0), np.exp(10.0), 20)
    assert round(float(effect.yi), 6) == 6.719500
    assert round(float(np.sqrt(effect.vi * 20)), 6) == 4.787076


def test_se_of_log_ratio_from_its_ci_woodward2019():
    """[W19]: the SE of ln RR from a printed 95% CI. The paper divides by 2 x 1.96; we use the exact
    normal quantile 1.959964, which agrees to 4 decimals and, rescaled to 1.96, to all 6 printed."""
    se = float(fx.se_from_ci(1.33, 3.47, ratio=True))
    assert round(se, 4) == round(0.244637, 4)
    assert round(se * stats.norm.ppf(0.975) / 1.96, 6) == 0.244637
    assert [round(float(v), 6) for v in np.log([1.33, 3.47])] == [0.285179, 1.244155]


def test_mean_change_with_imputed_correlation_matches_the_cochrane_cross_over_example():
    """Cochrane Handbook 5.1, section 16.4.6.4: ME = 7.0 (SD 2.38), MC = 6.5 (SD 2.21), n = 10,
    imputed correlation 0.68 -> MD 0.5 with SE 0.583 (paired: the same variance as a pre-post change)."""
    from bayes_il2.effects import mean_change

    yi, vi = mean_change(6.5, 2.21, 7.0, 2.38, 10, 0.68)
    assert round(float(yi), 1) == 0.5
    assert round(float(np.sqrt(vi)), 3) == 0.583


# --------------------------------------------------------------------------- combining groups, SD from SE
STATSTODO_GROUPS = ((10, 11.8, 2.4), (20, 15.3, 3.2), (15, 8.4, 4.1))
STATSTODO_SE = (0.7589, 0.7155, 1.0586)


def test_combine_groups_statstodo_three_groups_sequentially():
    """[STD]: the Cochrane formula applied to groups 1+2, then to that result + group 3."""
    (n1, m1, s1), (n2, m2, s2), (n3, m3, s3) = STATSTODO_GROUPS
    first = fx.combine_groups(n1, m1, s1, n2, m2, s2)
    total = fx.combine_groups(first.n, first.mean, first.sd, n3, m3, s3)
    assert float(total.n) == 45
    assert round(float(total.mean), 4) == 12.2222
    assert round(float(total.sd), 4) == 4.5028


def test_combine_groups_does_not_depend_on_the_order_of_combination():
    """The Handbook formula gives the pooled sample's mean and SD, so any order gives [STD]'s 4.5028."""
    (n1, m1, s1), (n2, m2, s2), (n3, m3, s3) = STATSTODO_GROUPS
    first = fx.combine_groups(n3, m3, s3, n1, m1, s1)
    total = fx.combine_groups(first.n, first.mean, first.sd, n2, m2, s2)
    assert round(float(total.sd), 4) == 4.5028


@pytest.mark.parametrize(("group", "se"), list(zip(STATSTODO_GROUPS, STATSTODO_SE)))
def test_sd_from_se_statstodo(group, se):
    """[STD] prints SE = SD/sqrt(n) to 4 decimals; SD from that SE returns the printed SD within the
    SE's rounding (0.00005 sqrt(n)), which SE sqrt(n - 1) would miss by ~0.1."""
    n, _, sd = group
    recovered = float(fx.sd_from_se(se, n))
    assert round(recovered, 1) == sd
    assert abs(recovered - sd) <= 0.00005 * np.sqrt(n) + 1e-12
