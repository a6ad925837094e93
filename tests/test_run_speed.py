"""What `bayes-il2 run` no longer repeats (issue #19): refits shared by PSIS-LOO and influence, variant
fits without predictive draws, sensitivity scenarios equal to the analysis, and the exact three-level
fit in the EXNEX comparison. Each shortcut must give what the long way gives (same seed: identical;
another engine: within Monte-Carlo error)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bayes_il2.diagnostics.influence import refit_without
from bayes_il2.diagnostics.loo import refit_loo_elpd
from bayes_il2.modeling import fit_built
from bayes_il2.modeling._common import location_summary
from bayes_il2.modeling.binomial_normal import build_binomial_normal
from bayes_il2.priors import HalfNormal, Normal

pytestmark = pytest.mark.mcmc

EVENTS = pd.DataFrame({"study_id": ["s1", "s2", "s3", "s4", "s5"],
                       "events_t": [6, 3, 9, 5, 7], "n_t": [30, 25, 40, 20, 35],
                       "events_c": [3, 2, 4, 4, 5], "n_c": [30, 24, 40, 21, 35]})


@pytest.fixture(scope="module")
def binomial_fit():
    built = build_binomial_normal(EVENTS, priors={"mu": Normal(0, 1.5), "tau": HalfNormal(0.5)})
    return fit_built(built, chains=2, draws=200, tune=200, seed=7)


def test_loo_and_influence_share_one_refit_per_left_out_study(binomial_fit):
    refitter = binomial_fit.refitter
    hits = refitter.memo_hits
    elpd = refit_loo_elpd(binomial_fit, "s2")  # the PSIS-LOO replacement refits s2 out ...
    summary = refit_without(binomial_fit, "s2")  # ... and the influence table asks for the same fit
    assert refitter.memo_hits == hits + 1
    # the memoised fit is the one a fresh refit gives (same seed, same weights: the same draws)
    fresh = replace(refitter, memo_size=0, _memo=type(refitter._memo)(), memo_hits=0)
    again = fresh.fit(weight=[1.0, 0.0, 1.0, 1.0, 1.0], predictive=False)
    assert location_summary(again) == summary
    ll = np.asarray(again.idata["log_likelihood"]["y"].sel(study_id="s2")).reshape(-1)
    from scipy.special import logsumexp

    assert float(logsumexp(ll) - np.log(ll.size)) == elpd
    assert fresh.memo_hits == 0


def test_memo_keys_on_weights_and_seed(binomial_fit):
    refitter = binomial_fit.refitter
    a = refitter.fit(weight=[0.0, 1.0, 1.0, 1.0, 1.0], predictive=False)
    hits = refitter.memo_hits
    b = refitter.fit(weight=[1.0, 1.0, 0.0, 1.0, 1.0], predictive=False)  # another study left out
    c = refitter.fit(weight=[0.0, 1.0, 1.0, 1.0, 1.0], predictive=False, seed=99)  # another seed
    assert refitter.memo_hits == hits
    assert location_summary(a) != location_summary(b) and location_summary(a) != location_summary(c)
    assert refitter.fit(weight=[0.0, 1.0, 1.0, 1.0, 1.0], predictive=False) is a
    assert refitter.memo_hits == hits + 1
    assert len(refitter._memo) <= refitter.memo_size
