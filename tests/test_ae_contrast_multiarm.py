"""Two-arm event tables: several LD-IL-2 dose arms against one placebo are combined by adding events
and patients (Cochrane Handbook 23.3.4), so the shared control enters the binomial-normal model once."""
from __future__ import annotations

import pandas as pd
import pytest

from bayes_il2.effects import event_contrast_table
from bayes_il2.evidence import load_registry


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def _arm_n(registry, study, arm):
    arms = registry.arms
    return float(arms[(arms["study_id"] == study) & (arms["arm_id"] == arm)]["n_randomized"].iloc[0])


def test_faridar_dose_arms_are_combined_and_the_placebo_counted_once(registry):
    table, _ = event_contrast_table(registry, "serious_ae")
    row = table[table["study_id"] == "Faridar2025_AD"]
    assert len(row) == 1  # one row (one study effect) for the trial
    row = row.iloc[0]
    assert row["n_t"] == _arm_n(registry, "Faridar2025_AD", "il2_q4wk") + _arm_n(registry, "Faridar2025_AD", "il2_q2wk")
    assert row["n_c"] == _arm_n(registry, "Faridar2025_AD", "placebo") == 19
    assert "arms combined" in row["note"]


def test_hartemann_three_doses_against_one_placebo(registry):
    table, _ = event_contrast_table(registry, "any_ae")
    row = table[table["study_id"] == "Hartemann2013_DFIL2"].iloc[0]
    assert (row["events_t"], row["n_t"], row["events_c"], row["n_c"]) == (14, 18, 1, 6)
    assert row["n"] == 24  # every randomized patient once: 3 x 6 treated + 6 placebo


@pytest.mark.parametrize("outcome", ["serious_ae", "any_ae", "infection", "injection_site_reaction"])
def test_no_control_patient_counted_twice_in_any_contrast(registry, outcome):
    table, _ = event_contrast_table(registry, outcome)
    events = registry.events
    for row in table.itertuples(index=False):
        arm_t, arm_c = row.arm_id.split("-vs-")
        controls = events[(events["study_id"] == row.study_id) & (events["outcome"] == outcome)
                          & events["arm_id"].isin(arm_c.split("+"))]
        assert row.n_c == pd.to_numeric(controls["n"]).sum()
        assert row.study_id not in table.loc[table["study_id"] != row.study_id, "study_id"].tolist()
    assert not table["study_id"].duplicated().any()
