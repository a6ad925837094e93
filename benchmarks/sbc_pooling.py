"""Simulation-based calibration of the pooling families of issue 17 (exnex, design_bias, exnex_rate,
design_bias_rate).

Run: ``python benchmarks/sbc_pooling.py [replications] [family]`` (default 200, all families; a few
minutes per family on 2 cores).
Reuses :func:`bayes_il2.modeling.calibration.simulation_based_calibration` (Talts et al. 2018):
parameters and data are drawn from the model's prior predictive distribution, each data set is
fitted by the same compiled sampler, and the rank of the true value among thinned posterior draws
is tested for uniformity (chi-square over 10 bins). Prints a markdown table.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from bayes_il2.modeling.calibration import rank_uniformity_pvalue, simulation_based_calibration
from bayes_il2.modeling.design_bias import build_design_bias
from bayes_il2.modeling.design_bias_rate import build_design_bias_rate
from bayes_il2.modeling.exnex import build_exnex
from bayes_il2.modeling.exnex_rate import build_exnex_rate
from bayes_il2.priors import HalfNormal, Normal

EXNEX_TABLE = pd.DataFrame([{"study_id": f"{d}{j}", "disease": d, "yi": 0.0, "vi": 0.1}
                            for d in "ABCDE" for j in range(2)])
RATE_TABLE = pd.DataFrame([{"study_id": f"{d}{j}", "disease": d, "events": 0, "n": 60}
                           for d in "ABCD" for j in range(2)])
DESIGN_RATE_TABLE = pd.DataFrame({
    "study_id": ["r1", "r1", "r2", "r3", "s1", "s2", "s3", "d1", "d2"],
    "arm_id": ["lo", "hi", "a", "a", "a", "a", "a", "a", "a"],
    "design": ["rct"] * 4 + ["single_arm"] * 3 + ["dose_finding"] * 2,
    "events": 0, "n": 60})
DESIGN_TABLE = pd.DataFrame({
    "study_id": [f"s{i}" for i in range(10)],
    "design": ["rct"] * 4 + ["single_arm"] * 3 + ["cohort"] * 3,
    "yi": 0.0, "vi": np.linspace(0.03, 0.1, 10)})


def cases():
    three = {"mu": Normal(0.0, 1.0), "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5)}
    yield "exnex (p_exch 0.5)", build_exnex(EXNEX_TABLE, priors=three, p_exch=0.5), \
        ["mu", "tau_within", "tau_between"]
    yield "design_bias (bias)", build_design_bias(DESIGN_TABLE, priors={"mu": Normal(0.0, 1.0), "tau": HalfNormal(0.5)}), \
        ["mu", "tau", "gamma"]
    rate = {"mu": Normal(-1.5, 1.0), "tau_within": HalfNormal(0.5), "tau_between": HalfNormal(0.5),
            "nex": Normal(-1.5, 1.5)}
    # drawn from the generative form (indicator with probability p_exch), fitted with the summed-out form
    yield "exnex_rate (p_exch 0.5)", (build_exnex_rate(RATE_TABLE, priors=rate),
                                      build_exnex_rate(RATE_TABLE, priors=rate, simulate=True).model), \
        ["mu", "tau_within", "tau_between", "mu_disease"]
    yield "design_bias_rate (bias)", build_design_bias_rate(DESIGN_RATE_TABLE, priors={"mu": Normal(-1.5, 1.0),
                                                                                     "tau": HalfNormal(0.5)}), \
        ["mu", "tau", "rho", "gamma", "b_design"]


def main(replications: int = 200, only: str | None = None) -> None:
    print("| family | parameter | replications | chi2_p | divergent_fits | seconds |")
    print("|---|---|---|---|---|---|")
    for name, built, names in cases():
        if only and not name.startswith(only + " "):
            continue
        built, prior_model = built if isinstance(built, tuple) else (built, None)
        start = time.perf_counter()
        ranks = simulation_based_calibration(built, names, replications=replications, draws=200, tune=300,
                                             chains=2, thin=4, seed=17, target_accept=0.99,
                                             prior_model=prior_model)
        seconds = time.perf_counter() - start
        bad = int((ranks["divergences"] > 0).sum())
        for var in [c for c in ranks.columns if c != "divergences"]:
            p = rank_uniformity_pvalue(ranks[var], ranks.attrs["max_rank"], bins=10)
            print(f"| {name} | {var} | {replications} | {p:.3f} | {bad} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, sys.argv[2] if len(sys.argv) > 2 else None)
