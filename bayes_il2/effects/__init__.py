"""Effect sizes: pure, vectorised calculators in the spirit of metafor's escalc, and the layer that
turns the evidence registry into effect and event tables.

Every calculator returns an :class:`EffectSize` that unpacks as ``yi, vi``; the measure codes and
their references are in :data:`MEASURES`; :func:`natural_scale` gives each measure's back-transform.

>>> from bayes_il2.effects import log_odds_ratio
>>> yi, vi = log_odds_ratio(5, 100, 10, 100)
>>> round(yi, 4), round(vi, 4)
(-0.7472, 0.3216)
"""
from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from bayes_il2._lazy import lazy_names as _lazy_names

#: Public name -> the module (under bayes_il2.effects) that defines it. Loaded on first use (PEP 562):
#: the conversions need scipy.stats and scipy.integrate (about 0.5 s), which the measures, the
#: calculators of yi/vi tables and the figures do not.
_NAMES = {
    **dict.fromkeys(('EffectSize', 'hedges_j'), '_common'),
    **dict.fromkeys(('CORRECTIONS', 'arcsine_proportion', 'log_odds_ratio', 'log_risk_ratio', 'logit_proportion',
        'raw_proportion', 'risk_difference'), 'binary'),
    **dict.fromkeys(('log_ratio_of_means', 'mean_difference', 'standardized_mean_difference'), 'continuous'),
    **dict.fromkeys(('Combined', 'MeanSD', 'combine_groups', 'eta', 'expected_normal_range',
        'log_fold_from_mean_sd', 'log_fold_from_median_iqr', 'mean_sd_from_five_numbers', 'mean_sd_from_median_iqr',
        'mean_sd_from_median_range', 'sd_from_ci', 'sd_from_p_value', 'sd_from_range', 'sd_from_se', 'se_from_ci',
        'se_from_p_value', 'xi'), 'conversions'),
    **dict.fromkeys(('escalc',), 'escalc'),
    **dict.fromkeys(('MEASURES', 'natural_scale'), 'measures'),
    **dict.fromkeys(('DEFAULT_R', 'log_ratio_of_means_paired', 'mean_change', 'mean_change_from_change', 'over_r',
        'prepost_effect', 'standardized_mean_change_change', 'standardized_mean_change_raw'), 'prepost'),
    **dict.fromkeys(('event_contrast_table', 'event_rate_effects', 'treg_expansion_effects'), 'registry'),
    **dict.fromkeys(('treg_partial_effects',), 'partial'),
    **dict.fromkeys(('SkewnessTest', 'skewness_test'), 'skewness'),
}

__all__ = [
    "CORRECTIONS", "DEFAULT_R", "MEASURES", "Combined", "EffectSize", "MeanSD", "arcsine_proportion",
    "combine_groups", "escalc", "eta", "event_contrast_table", "event_rate_effects", "expected_normal_range",
    "hedges_j", "log_fold_from_mean_sd", "log_fold_from_median_iqr", "log_odds_ratio", "log_ratio_of_means",
    "log_ratio_of_means_paired", "log_risk_ratio", "logit_proportion", "mean_change", "mean_change_from_change",
    "mean_difference", "mean_sd_from_five_numbers", "mean_sd_from_median_iqr", "mean_sd_from_median_range",
    "natural_scale", "over_r", "prepost_effect", "raw_proportion", "risk_difference", "SkewnessTest",
    "skewness_test", "sd_from_ci",
    "sd_from_p_value", "sd_from_range", "sd_from_se", "se_from_ci", "se_from_p_value",
    "standardized_mean_change_change", "standardized_mean_change_raw", "standardized_mean_difference",
    "treg_expansion_effects", "treg_partial_effects", "xi",
]

if _TYPE_CHECKING:  # pragma: no cover
    from bayes_il2.effects._common import EffectSize, hedges_j
    from bayes_il2.effects.binary import (CORRECTIONS, arcsine_proportion, log_odds_ratio, log_risk_ratio,
                                          logit_proportion, raw_proportion, risk_difference)
    from bayes_il2.effects.continuous import log_ratio_of_means, mean_difference, standardized_mean_difference
    from bayes_il2.effects.conversions import (Combined, MeanSD, combine_groups, eta, expected_normal_range,
                                               log_fold_from_mean_sd, log_fold_from_median_iqr,
                                               mean_sd_from_five_numbers, mean_sd_from_median_iqr,
                                               mean_sd_from_median_range, sd_from_ci, sd_from_p_value, sd_from_range,
                                               sd_from_se, se_from_ci, se_from_p_value, xi)
    from bayes_il2.effects.escalc import escalc
    from bayes_il2.effects.measures import MEASURES, natural_scale
    from bayes_il2.effects.prepost import (DEFAULT_R, log_ratio_of_means_paired, mean_change,
                                           mean_change_from_change, over_r, prepost_effect,
                                           standardized_mean_change_change,
                                           standardized_mean_change_raw)
    from bayes_il2.effects.registry import event_contrast_table, event_rate_effects, treg_expansion_effects
    from bayes_il2.effects.partial import treg_partial_effects
    from bayes_il2.effects.skewness import SkewnessTest, skewness_test


__getattr__, __dir__ = _lazy_names(__name__, _NAMES)
