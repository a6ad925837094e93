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


def _no_log_density(monkeypatch):
    """Make PyMC's log density unavailable: a key computed anyway came from the generative graph."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("the log density was derived")

    monkeypatch.setattr(pm.Model, "logp", refuse)


def test_the_shipped_families_are_keyed_without_deriving_the_log_density(monkeypatch):
    from bayes_il2.modeling import build_binomial_normal, build_nnhm, build_three_level

    effects = pd.DataFrame({"study_id": list("abcd"), "yi": [0.1, 0.5, -0.2, 0.3], "vi": [0.04, 0.09, 0.05, 0.1],
                            "disease": ["x", "x", "y", "y"]})
    counts = pd.DataFrame({"study_id": list("abc"), "events_t": [3, 5, 0], "n_t": [20, 30, 15],
                           "events_c": [1, 4, 2], "n_c": [20, 28, 16]})
    models = [build_single_arm(ARMS).model, build_exnex_rate(ARMS).model, build_nnhm(effects).model,
              build_three_level(effects).model, build_binomial_normal(counts).model]
    with_log_density = [structure_key(m) for m in models]
    _no_log_density(monkeypatch)
    keys = [structure_key(m) for m in models]
    assert None not in keys and len(set(keys)) == len(keys)
    assert keys == with_log_density  # the generative key is the one used either way


def test_a_transform_an_observed_constant_or_a_potential_changes_the_generative_key(monkeypatch):
    _no_log_density(monkeypatch)

    def key(transform: bool = True, observed: float = 1.0, potential: float = 0.0, data: float = 2.0) -> str:
        with pm.Model() as model:
            x = pm.Data("x", np.array([data]))
            tau = pm.HalfNormal("tau", 1.0, default_transform=pm.distributions.transforms.log if transform else None)
            mu = pm.Uniform("mu", -1.0, 1.0)
            pm.Normal("y", mu + x, tau, observed=[observed])
            pm.Potential("p", potential * mu)
        return structure_key(model)

    base = key()
    assert key(data=5.0) == base  # a data container's value is not structure
    assert len({base, key(transform=False), key(observed=1.5), key(potential=1.0)}) == 4


def test_a_model_the_generative_graph_cannot_describe_is_keyed_by_its_log_density(monkeypatch):
    from bayes_il2.priors import LogTTau2

    def key(scale: float) -> str | None:
        with pm.Model() as model:  # a CustomDist: its random variable's class is made on the fly
            tau = LogTTau2(-1.0, scale).to_pymc("tau")
            pm.Normal("y", 0.0, tau, observed=[1.0, 2.0])
        return structure_key(model)

    a, b = key(1.5), key(1.5)
    assert a is not None and a == b and key(2.0) != a
    _no_log_density(monkeypatch)
    with pytest.raises(AssertionError, match="the log density was derived"):
        key(1.5)
