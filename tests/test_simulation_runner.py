"""The simulation runner: in-process and Dask give identical tables, independent of workers and chunking;
a killed worker's chunk is retried; an interrupted study resumes without recomputing finished chunks."""
from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd
import pytest

from bayes_il2.errors import SpecError
from bayes_il2.simulation.methods import MissingDependency, check_available
from bayes_il2.runner import dask_client
from bayes_il2.simulation.spec import parse_simulation_spec
from bayes_il2.simulation.study import run_study


def small_spec(replicates: int = 6, chunk_size: int = 2, reml: bool = True, k=(3, 5)):
    methods = [{"name": "hn", "kind": "exact_nnhm", "tau_prior": {"family": "half_normal", "scale": 0.5}}]
    if reml:
        methods.append({"name": "reml", "kind": "reml_hksj"})
    return parse_simulation_spec({
        "simulation": {"name": "small", "title": "t", "question": "q", "replicates": replicates,
                       "chunk_size": chunk_size, "seed": 11},
        "scenarios": {"k": list(k), "tau": [0.0, 0.4], "reporting": ["complete", "pvalue_only"]},
        "methods": methods})


@pytest.fixture(scope="module")
def reference():
    """The small study run in this process, chunk by chunk."""
    return run_study(small_spec(), progress=False)


@pytest.fixture(scope="module")
def cluster():
    with dask_client(workers=2) as client:
        yield client


def test_results_do_not_depend_on_the_chunking(reference):
    other = run_study(small_spec(chunk_size=5), progress=False)
    pd.testing.assert_frame_equal(reference, other)
    assert len(reference) == 2 * 2 * 2 * 6 * 2 and not reference["failed"].any()


def test_two_worker_local_cluster_equals_in_process(reference, cluster, tmp_path):
    assert len(cluster.scheduler_info()["workers"]) == 2
    on_dask = run_study(small_spec(), tmp_path / "dask", client=cluster, progress=False)
    in_process = run_study(small_spec(), tmp_path / "here", progress=False)
    pd.testing.assert_frame_equal(on_dask, in_process)
    pd.testing.assert_frame_equal(on_dask, reference)


def test_killed_worker_mid_run_still_gives_complete_identical_results(reference, cluster, tmp_path):
    pids = cluster.run(os.getpid)
    killed = []

    def kill_one_worker(chunk):
        if not killed:
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    result = run_study(small_spec(), tmp_path / "killed", client=cluster, progress=False, on_chunk=kill_one_worker)
    assert killed
    pd.testing.assert_frame_equal(result, reference)
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert killed[0] not in cluster.run(os.getpid).values()


def test_interrupted_study_resumes_without_recomputing_finished_chunks(reference, tmp_path):
    out = tmp_path / "study"
    spec = small_spec()
    done = []

    def interrupt_after_three(chunk):
        done.append(chunk.key)
        if len(done) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, out, progress=False, on_chunk=interrupt_after_three)
    assert len(list((out / "chunks").glob("*.parquet"))) == 3
    resumed = []
    result = run_study(spec, out, resume=True, progress=False, on_chunk=lambda c: resumed.append(c.key))
    assert not set(resumed) & set(done) and len(resumed) == 8 * 3 - 3
    pd.testing.assert_frame_equal(result, reference)
    # without --resume the study starts afresh
    fresh = []
    run_study(spec, out, progress=False, on_chunk=lambda c: fresh.append(c.key))
    assert len(fresh) == 24


def test_resume_with_a_changed_spec_is_refused(tmp_path):
    run_study(small_spec(replicates=2, reml=False, k=(3,)), tmp_path, progress=False)
    with pytest.raises(SpecError, match="different study spec"):
        run_study(small_spec(replicates=3, reml=False, k=(3,)), tmp_path, resume=True, progress=False)


def test_exact_method_rows_equal_the_exact_engine(reference):
    from bayes_il2.exact import nnhm
    from bayes_il2.priors import HalfNormal
    from bayes_il2.simulation.scenarios import scenarios, simulate_effects
    from bayes_il2.simulation.study import replicate_seeds

    spec = small_spec()
    cell = scenarios(spec)[3]
    effects = simulate_effects(cell, np.random.default_rng(replicate_seeds(spec.seed, cell.cell, 4, 1)[0]))
    post = nnhm(effects["yi"], effects["vi"], HalfNormal(0.5))
    row = reference.query(f"cell == {cell.cell} and replicate == 4 and method == 'hn'").iloc[0]
    assert row["estimate"] == post.mu.median and (row["ci_low"], row["ci_high"]) == post.mu.interval(0.95)


def test_reml_hksj_needs_bayes_il2_classical(monkeypatch):
    from bayes_il2.simulation import methods

    monkeypatch.setitem(methods._REQUIRES, "reml_hksj", "bayes_il2.no_such_module")
    with pytest.raises(MissingDependency, match="method 'reml'.*requires bayes_il2.no_such_module"):
        check_available(small_spec().methods)


@pytest.mark.mcmc
def test_mcmc_method_refits_give_the_fresh_fit_and_agree_with_the_exact_engine():
    from bayes_il2.modeling._common import clear_sampler_cache
    from bayes_il2.simulation.methods import clear_method_cache
    from bayes_il2.simulation.study import run_replicates, study_chunks

    prior = {"family": "half_normal", "scale": 0.5}
    spec = parse_simulation_spec({
        "simulation": {"name": "m", "title": "t", "question": "q", "replicates": 3, "chunk_size": 3, "seed": 3},
        "scenarios": {"k": [4], "tau": [0.3]},
        "methods": [{"name": "exact", "kind": "exact_nnhm", "tau_prior": prior},
                    {"name": "mcmc", "kind": "mcmc_nnhm", "tau_prior": prior, "draws": 500, "tune": 500,
                     "chains": 2}]})
    clear_method_cache()
    all_three = run_replicates(spec, study_chunks(spec)[0])  # replicate 0 compiles, 1 and 2 refit
    clear_method_cache()
    clear_sampler_cache()
    chunk = study_chunks(spec)[0]
    alone = run_replicates(spec, type(chunk)(chunk.key, 2, 3, chunk.payload))  # replicate 2 fitted fresh
    pd.testing.assert_frame_equal(all_three.iloc[4:6].reset_index(drop=True), alone)
    mcmc = all_three[all_three["method"] == "mcmc"].set_index("replicate")
    exact = all_three[all_three["method"] == "exact"].set_index("replicate")
    width = exact["ci_high"] - exact["ci_low"]  # about 4 posterior SDs; MCSE of a median with ESS >= 200: < 0.1 SD
    assert ((mcmc["estimate"] - exact["estimate"]).abs() < 0.1 * width).all()
    assert ((mcmc["ci_low"] - exact["ci_low"]).abs() < 0.15 * width).all()
