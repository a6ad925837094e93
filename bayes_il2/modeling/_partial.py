"""What the model side reads of the partial-information effect table (docs/architecture.md,
"Partially reported results"). The table itself, and its row kinds, are defined by
:mod:`bayes_il2.effects.partial`, which builds it from the registry.
"""
from __future__ import annotations

from bayes_il2.effects.partial import INFO_KINDS  # noqa: F401 (one definition of the row kinds)

#: Row kinds that have a study-level true effect theta_i (all but ``aggregate``).
STUDY_KINDS = ("complete", "bound", "pvalue", "no_spread", "approximate")

#: Columns the model side reads beyond an ordinary effect table (all optional except ``info``).
PARTIAL_COLUMNS = ("info", "info_text", "y_low", "y_high", "z_low", "z_high", "p_value", "p_operator",
                   "sided", "direction", "test", "df", "n", "n_a", "n_b", "cv_pre", "cv_post", "r",
                   "k_members", "members", "assumed", "schedule", "dose_miu", "cumulative_dose_miu",
                   "course_days")

#: Regimen moderators (usable as covariates; ``schedule`` is text and is dummy-coded).
REGIMEN_COLUMNS = ("schedule", "dose_miu", "cumulative_dose_miu", "course_days")
SCHEDULES = ("daily_x5", "every_other_day", "daily", "other")

#: ``test`` values: a within-arm (paired) change or a contrast of changes between two arms.
TESTS = ("paired", "two_sample")

#: Standardized (SMD-type) measure codes; an aggregate on one of these scales can enter a ROMC model
#: through ROMC = log(1 + SMCR * cv_pre) (see bayes_il2.modeling.partial).
STANDARDIZED_MEASURES = ("SMCR", "SMCC", "SMD")
RATIO_MEASURES = ("ROMC", "ROM")
