"""Bad summary statistics raise EffectSizeError naming the offending rows (study ids or index)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_il2 import effects as fx
from bayes_il2.errors import EffectSizeError

IDS = ["Alpha2020", "Beta2021", "Gamma2022"]


def test_negative_count_names_the_study():
    with pytest.raises(EffectSizeError, match=r"Beta2021.*negative count in ai"):
        fx.log_odds_ratio([3, -1, 2], [10, 10, 10], [1, 1, 1], [10, 10, 10], ids=IDS)


def test_events_above_n_names_the_study():
    with pytest.raises(EffectSizeError, match=r"Gamma2022.*ci > n2i"):
        fx.log_risk_ratio([3, 1, 2], [10, 10, 10], [1, 1, 12], [10, 10, 10], ids=IDS)


def test_single_arm_events_above_n():
    with pytest.raises(EffectSizeError, match=r"Alpha2020.*xi > ni"):
        fx.logit_proportion([11, 1], [10, 10], ids=IDS[:2])


def test_row_named_by_series_index_without_ids():
    events = pd.Series([1, 5], index=["S1", "S2"])
    n = pd.Series([4, 4], index=["S1", "S2"])
    with pytest.raises(EffectSizeError, match=r"row 'S2'"):
        fx.raw_proportion(events, n)


def test_row_named_by_position_without_ids_or_index():
    with pytest.raises(EffectSizeError, match=r"row 1: sd1i must be > 0"):
        fx.mean_difference([1, 2], [1, 0], [10, 10], [0, 0], [1, 1], [10, 10])


@pytest.mark.parametrize("sd", [0.0, -1.0])
def test_sd_not_positive(sd):
    with pytest.raises(EffectSizeError, match=r"Beta2021.*sd_pre must be > 0"):
        fx.log_ratio_of_means_paired([5, 5, 5], [1, sd, 1], [6, 6, 6], [1, 1, 1], [10, 10, 10], ids=IDS)


def test_missing_sd_is_an_error():
    with pytest.raises(EffectSizeError, match=r"Alpha2020.*sd2i is missing"):
        fx.standardized_mean_difference([1], [1], [10], [0], [np.nan], [10], ids=IDS[:1])


def test_median_outside_iqr():
    with pytest.raises(EffectSizeError, match=r"Gamma2022.*median outside the IQR"):
        fx.mean_sd_from_median_iqr([5, 5, 9], [4, 4, 4], [6, 6, 6], [20, 20, 20], ids=IDS)


def test_median_outside_range():
    with pytest.raises(EffectSizeError, match=r"Alpha2020.*median outside the range"):
        fx.mean_sd_from_median_range([1], [2], [6], [20], ids=IDS[:1])


@pytest.mark.parametrize("r", [1.2, -1.5])
def test_correlation_outside_unit_interval(r):
    with pytest.raises(EffectSizeError, match=r"Beta2021.*ri must lie in \[-1, 1\]"):
        fx.mean_change([5, 5], [1, 1], [6, 6], [1, 1], [10, 10], [0.5, r], ids=IDS[:2])


def test_ratio_measures_need_positive_means():
    with pytest.raises(EffectSizeError, match=r"Alpha2020.*m_pre must be > 0"):
        fx.log_ratio_of_means_paired([0.0], [1], [6], [1], [10], ids=IDS[:1])
    with pytest.raises(EffectSizeError, match=r"m2i must be > 0"):
        fx.log_ratio_of_means(5, 1, 10, -2, 1, 10)


def test_unknown_option_values_are_named():
    with pytest.raises(EffectSizeError, match="correction must be one of"):
        fx.log_odds_ratio(1, 10, 1, 10, correction="half")
    with pytest.raises(EffectSizeError, match="double_zero must be one of"):
        fx.log_odds_ratio(1, 10, 1, 10, double_zero="drop")


def test_ids_of_wrong_length():
    with pytest.raises(EffectSizeError, match="ids has 3 entries"):
        fx.logit_proportion([1, 2], [10, 10], ids=IDS)


def test_inputs_of_different_lengths():
    with pytest.raises(EffectSizeError, match="different lengths"):
        fx.logit_proportion([1, 2, 3], [10, 10])


def test_ci_bounds_reversed():
    with pytest.raises(EffectSizeError, match=r"Alpha2020.*ci_high must exceed ci_low"):
        fx.sd_from_ci([3.0], [1.0], [30], ids=IDS[:1])


def test_p_value_out_of_range():
    with pytest.raises(EffectSizeError, match="p_value must lie in"):
        fx.se_from_p_value(1.0, 1.5)


# --- found by fuzzing against independent computations (session 8) --------------------------------
@pytest.mark.parametrize("call", [
    lambda: fx.mean_sd_from_median_iqr(2.0, 1.0, 3.0, 1),
    lambda: fx.mean_sd_from_median_range(2.0, 1.0, 3.0, 1),
    lambda: fx.mean_sd_from_five_numbers(0.0, 1.0, 2.0, 3.0, 4.0, 1),
    lambda: fx.sd_from_range(1.0, 3.0, 1),
    lambda: fx.sd_from_range(1.0, 3.0, 1, exact_range=True),
])
def test_quantile_conversions_refuse_a_single_value(call):
    # xi(1) = eta(1) = 0 and the expected range of one value is 0: the SD came back inf or NaN
    with pytest.raises(EffectSizeError, match="n must be >= 2"):
        call()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: fx.sd_from_ci(1.0, 3.0, 100, level=95), r"level must lie in \(0, 1\)"),
    (lambda: fx.se_from_ci(1.0, 3.0, level=0.0), r"level must lie in \(0, 1\)"),
    (lambda: fx.se_from_ci(1.0, 3.0, df=0), "df must be > 0"),
    (lambda: fx.se_from_p_value(1.0, 0.05, df=-3), "df must be > 0"),
    (lambda: fx.sd_from_range(1.0, 3.0, 2.5, exact_range=True), "whole number n"),
])
def test_out_of_range_options_are_refused_not_turned_into_nan(call, message):
    with pytest.raises(EffectSizeError, match=message):
        call()


def test_series_with_different_indexes_are_refused_not_paired_by_position():
    # study a's events were paired with study b's n, and the result labelled with a's index
    ai = pd.Series([1, 9], index=["a", "b"])
    n1i = pd.Series([100, 10], index=["b", "a"])
    with pytest.raises(EffectSizeError, match="different indexes"):
        fx.log_odds_ratio(ai, n1i, 5, 10)
    aligned = fx.log_odds_ratio(ai, n1i.reindex(ai.index), 5, 10)
    assert aligned.yi.loc["a"] == pytest.approx(np.log((1 / 9) / (5 / 5)))


def test_hedges_j_stays_below_one_and_exact_at_large_df():
    # gammaln(m/2) - gammaln((m-1)/2) lost 1e-15 m of precision: J(2.6e7) came out 1.00000003
    m = np.array([1e5, 1e6, 26351597.0, 1e9])
    j = fx.hedges_j(m)
    assert np.all(j < 1)
    # J(m) = 1 - 3/(4m) - 7/(32 m^2) + O(m^-3) (the asymptotic series of the Gamma ratio)
    np.testing.assert_allclose(j, 1 - 3 / (4 * m) - 7 / (32 * m**2), rtol=1e-13)


def test_a_five_number_summary_of_fewer_than_five_values_is_not_called_skewed():
    # Shi et al.'s critical value 3/sqrt(n) - 40/n^3 is negative for n = 2: a symmetric summary was skewed
    test = fx.skewness_test(2.0, 2, minimum=0.0, q1=1.0, q3=3.0, maximum=4.0)
    assert not test.skewed and np.isnan(test.critical)
    assert fx.skewness_test(2.0, 5, minimum=0.0, q1=1.0, q3=3.0, maximum=4.0).critical > 0


def test_scale_free_measures_do_not_overflow_at_extreme_magnitudes():
    # SD and mean squares overflowed beyond 1e154: SMD came out (0.0, 0.2) instead of (1.915, 0.292)
    unit = fx.standardized_mean_difference(1.0, 1.0, 10, -1.0, 1.0, 10)
    huge = fx.standardized_mean_difference(1e300, 1e300, 10, -1e300, 1e300, 10)
    assert (huge.yi, huge.vi) == pytest.approx((unit.yi, unit.vi), rel=1e-12)
    ratio = fx.log_ratio_of_means(2.0, 1.0, 10, 1.0, 1.0, 10)
    tiny = fx.log_ratio_of_means(2e-200, 1e-200, 10, 1e-200, 1e-200, 10)
    assert (tiny.yi, tiny.vi) == pytest.approx((ratio.yi, ratio.vi), rel=1e-12)
