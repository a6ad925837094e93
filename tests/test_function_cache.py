"""The structure key of the on-disk PyTensor function cache (bayes_il2.function_cache).

A key shared by two models means one's compiled functions serve the other with its own data, so the
key must change with anything but data values. The end-to-end checks (a second process loads the
functions and draws bit for bit what nutpie's own compilation draws, with new data) are in
tests/test_compile_cache_disk.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest

from bayes_il2.function_cache import Unkeyable, graph_digest, structure_key
from bayes_il2.modeling import build_exnex_rate, build_single_arm
from bayes_il2.priors import Normal

ARMS = pd.DataFrame({"study_id": ["a", "b", "c", "c"], "arm_id": ["1", "1", "1", "2"], "events": [1, 2, 0, 3],
                     "n": [10, 20, 15, 15], "disease": ["x", "y", "y", "y"]})


def test_same_structure_with_other_data_values_has_the_same_key():
    other = ARMS.assign(events=[2, 2, 1, 1], n=[12, 20, 30, 9])
    assert structure_key(build_single_arm(ARMS).model) == structure_key(build_single_arm(other).model)
    assert structure_key(build_exnex_rate(ARMS).model) == structure_key(build_exnex_rate(other).model)


def test_a_prior_parameter_changes_the_key():
    base = structure_key(build_single_arm(ARMS).model)
    assert structure_key(build_single_arm(ARMS, priors={"mu": Normal(-1.5, 2.0)}).model) != base
    assert structure_key(build_single_arm(ARMS, priors={"mu": Normal(-1.5, 2.5)}).model) != \
        structure_key(build_single_arm(ARMS, priors={"mu": Normal(-1.5, 2.0)}).model)


def test_an_index_array_held_as_a_constant_changes_the_key():
    # which disease each arm belongs to is a constant index in the graph, not a data container
    moved = ARMS.assign(disease=["y", "x", "y", "y"])
    assert structure_key(build_exnex_rate(moved).model) != structure_key(build_exnex_rate(ARMS).model)


def test_families_and_shapes_differ():
    assert structure_key(build_single_arm(ARMS).model) != structure_key(build_exnex_rate(ARMS).model)
    three = ARMS.iloc[:3]
    assert structure_key(build_single_arm(three).model) != structure_key(build_single_arm(ARMS).model)


def test_a_graph_the_key_cannot_describe_gives_no_key():
    import pytensor.tensor as pt

    x = pt.dscalar("x")
    hidden = pt.dscalar("hidden")  # a root that is neither an input nor a constant
    with pytest.raises(Unkeyable, match="neither an input nor a constant"):
        graph_digest([x], [x + hidden])
    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Potential("p", mu * hidden)
    assert structure_key(model) is None


def test_constants_are_compared_by_value_not_by_identity():
    import pytensor.tensor as pt

    x = pt.dvector("x")
    a = graph_digest([x], [x + pt.constant(np.array([1.0, 2.0]))])
    assert a == graph_digest([x], [x + pt.constant(np.array([1.0, 2.0]))])
    assert a != graph_digest([x], [x + pt.constant(np.array([1.0, 2.5]))])
    assert a != graph_digest([x], [x * pt.constant(np.array([1.0, 2.0]))])
