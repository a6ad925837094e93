"""EXNEX for single-arm event rates (family ``exnex_rate``), with the EX/NEX indicator summed out of
the likelihood.

    events_a ~ Bin(n_a, expit(theta_a)),  theta_a = mu_disease[d(a)] + study and arm deviations
    mu_disease[d] = mu_ex[d] if EX_d else mu_nex[d],   P(EX_d) = p_exch
    mu_ex[d] ~ N(mu, tau_between^2),   mu_nex[d] ~ N(m_nex, s_nex^2)

(Neuenschwander, Wandel, Roychoudhury & Bailey 2016, Pharm Stat 15:123-134). Arms of one study are
nested in it with total SD tau_within, exactly as in the single-arm model
(:func:`bayes_il2.modeling.single_arm.nested_arm_deviations`).

Parameterisation. Every disease carries both component means: ``mu_ex`` (non-centred,
mu + tau_between z) and ``mu_nex`` (non-centred, m_nex + s_nex z'); the one a disease does not use
follows its prior (a pseudo-prior in the sense of Carlin & Chib 1995, JRSS-B 57:473-484, here equal
to the component's own prior, so the marginal model is unchanged). The indicator is summed out of
each disease's likelihood:

    log p(y_d | ...) = logsumexp(log p_exch + sum_a log Bin(r_a | theta_a^ex),
                                 log(1 - p_exch) + sum_a log Bin(r_a | theta_a^nex))

with the two linear predictors sharing the study and arm deviations. No sampled variable has the
bimodal EX/NEX posterior of a centred mixture prior on ``mu_disease`` (the earlier form, which left
divergences for a disease with one arm and few events).

Recovered after sampling. ``p_exch_post`` (disease) is the conditional probability of EX given
each draw, w_d = p_exch L_ex / (p_exch L_ex + (1 - p_exch) L_nex) (its posterior mean is a
Rao-Blackwellised P(EX_d | y)). ``mu_disease`` is a posterior draw of the disease mean: the EX or
NEX component chosen with probabilities (w_d, 1 - w_d), through a uniform variable ``ex_pick``
(disease) that the likelihood does not involve (its posterior is its Uniform(0, 1) prior), so
mu_disease = mu_ex if ex_pick < w_d else mu_nex. The observed ``events`` node uses theta with that
mu_disease (so posterior predictive draws are of the EXNEX model) and a potential replaces its
log-likelihood by the mixture above, so the log density is exactly the marginal one.

``simulate=True`` builds the generative form for simulation-based calibration: ex_pick selects with
the prior probability p_exch instead of w_d, so the prior predictive draws data from the EXNEX
model (do not fit it: its posterior of mu_disease is not recovered).

With ``p_exch = 1`` the model is the two-level single-arm model
(:func:`bayes_il2.modeling.single_arm.build_single_arm`, ``levels=2``). Posterior variables: mu,
tau_within, tau_between, mu_ex, mu_nex, mu_disease, p_exch_post, theta, p_pooled = expit(mu),
p_disease = expit(mu_disease), theta_new_disease, mu_new_disease, theta_new, p_new (rho, tau_study,
tau_arm with multi-arm studies).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_il2.errors import ModelError
from bayes_il2.modeling._common import (BuiltModel, check_columns, check_parameterization, disease_index,
                                        prediction, random_effects, resolve_priors, study_labels)
from bayes_il2.modeling.exnex import _caveats, _nex_prior, check_p_exch
from bayes_il2.modeling.single_arm import arm_structure, nested_arm_deviations, rate_values, study_logliks

FAMILY = "exnex_rate"


def build_exnex_rate(data: pd.DataFrame, *, priors: Mapping[str, Any] | None = None, p_exch: float = 0.5,
                     measure: str = "PLO", parameterization: str = "noncentered",
                     simulate: bool = False) -> BuiltModel:
    """Build EXNEX for single-arm event rates on the logit scale (see the module docstring).

    Parameters
    ----------
    data : DataFrame
        ``study_id``, ``disease``, ``events``, ``n`` (one row per arm; ``arm_id`` for multi-arm studies).
    priors : dict, optional
        ``mu``, ``tau_within``, ``tau_between``, ``nex`` (Normal; default ``Normal(0, 2)``) and
        ``rho`` (multi-arm studies; default Uniform(0, 1)).
    p_exch : float
        Prior probability that a disease is exchangeable, in (0, 1].
    measure : str
        Only ``PLO``.
    parameterization : {"noncentered", "centered"}
        Of the study and arm deviations (the component means are always non-centred).
    simulate : bool
        The generative form, for simulation-based calibration only (module docstring).

    Returns
    -------
    BuiltModel

    References
    ----------
    Neuenschwander B, Wandel S, Roychoudhury S, Bailey S (2016). Robust exchangeability designs for
    early phase clinical trials with multiple strata. Pharm Stat 15:123-134. Carlin BP, Chib S
    (1995). Bayesian model choice via Markov chain Monte Carlo methods. JRSS-B 57:473-484.
    """
    check_columns(data, ["study_id", "disease", "events", "n"], FAMILY)
    check_parameterization(parameterization)
    if measure != "PLO":
        raise ModelError(f"{FAMILY}: rates are modelled on the logit scale; measure must be 'PLO', got {measure!r}")
    p = check_p_exch(p_exch, FAMILY)
    data = data.reset_index(drop=True)
    values = rate_values(data)
    ids = study_labels(data, FAMILY)
    levels, d_index = disease_index(data, FAMILY)
    studies, s_index, multi_rows = arm_structure(data)
    mixed = [s for j, s in enumerate(studies) if len(set(d_index[s_index == j])) > 1]
    if mixed:
        raise ModelError(f"{FAMILY}: the arms of study {mixed[0]!r} have different diseases")
    nested = bool(multi_rows)
    given = dict(priors or {})
    m_nex, s_nex, nex = _nex_prior(given)
    given.pop("nex", None)
    needed = ["mu", "tau_within", "tau_between"]
    if nested:
        from bayes_il2.priors import Uniform

        given.setdefault("rho", Uniform(0.0, 1.0))
        needed.append("rho")
    else:
        given.pop("rho", None)
    resolved = resolve_priors(given, needed, FAMILY)
    n_d = len(levels)
    member = np.zeros((n_d, len(ids)))
    member[d_index, np.arange(len(ids))] = 1.0  # disease x arm: sums arm log-likelihoods per disease
    coords: dict[str, Any] = {"study_id": ids, "study": studies, "disease": levels}
    if nested:
        coords["arm"] = [ids[i] for i in multi_rows]
    with pm.Model(coords=coords) as model:
        r = pm.Data("r", values["r"], dims="study_id")
        n = pm.Data("n", values["n"], dims="study_id")
        weight = pm.Data("weight", np.ones(len(ids)), dims="study_id")
        mu = resolved["mu"].to_pymc("mu")
        pm.Deterministic("p_pooled", pm.math.invlogit(mu))
        tau_w = resolved["tau_within"].to_pymc("tau_within")
        tau_b = resolved["tau_between"].to_pymc("tau_between")
        mu_ex = random_effects("mu_ex", mu, tau_b, "disease", "noncentered")
        deviation = nested_arm_deviations(tau_w, resolved["rho"] if nested else None, s_index, multi_rows,
                                          len(ids), parameterization)

        def disease_loglik(mean: Any) -> Any:  # weighted (leave-out weights) sum of arm log-likelihoods
            arm = pm.logp(pm.Binomial.dist(n=n, logit_p=mean[d_index] + deviation), r)
            return pt.dot(pt.as_tensor(member), weight * arm)

        log_ex = np.log(p) + disease_loglik(mu_ex)
        if p < 1.0:
            mu_nex = random_effects("mu_nex", m_nex, s_nex, "disease", "noncentered")
            log_nex = np.log1p(-p) + disease_loglik(mu_nex)
            mixture = pt.logaddexp(log_ex, log_nex)
            w_ex = pt.exp(log_ex - mixture)
            pick = pm.Uniform("ex_pick", 0.0, 1.0, dims="disease")
            mu_d = pt.switch(pt.lt(pick, p if simulate else w_ex), mu_ex, mu_nex)
        else:
            mixture, w_ex, mu_d = log_ex, pt.ones((n_d,)), mu_ex
        pm.Deterministic("p_exch_post", w_ex, dims="disease")
        mu_d = pm.Deterministic("mu_disease", mu_d, dims="disease")
        pm.Deterministic("p_disease", pm.math.invlogit(mu_d), dims="disease")
        theta = pm.Deterministic("theta", mu_d[d_index] + deviation, dims="study_id")
        prediction("theta_new_disease", mu_d, tau_w, dims="disease")
        mu_new = prediction("mu_new_disease", mu, tau_b)
        theta_new = prediction("theta_new", mu_new, tau_w)
        pm.Deterministic("p_new", pm.math.invlogit(theta_new))
        pm.Binomial("events", n=n, logit_p=theta, observed=r, dims="study_id")
        # the log density is the indicator-summed mixture: cancel the observed node's own term
        own = pm.logp(pm.Binomial.dist(n=n, logit_p=theta), r)
        pm.Potential("exnex_mixture", pt.sum(mixture) - pt.sum(own))

    def integrated_loglik(post: xr.Dataset, const: xr.Dataset) -> xr.DataArray:
        """Per study: its arms' likelihood given the drawn disease mean, deviations integrated out."""
        out = study_logliks(np.asarray(post["mu_disease"])[..., d_index], np.asarray(post["tau_within"]),
                            np.asarray(post["rho"]) if nested else None, s_index,
                            np.asarray(const["r"], dtype=float), np.asarray(const["n"], dtype=float),
                            np.zeros(len(ids)), "logit")
        return xr.DataArray(out, dims=("chain", "draw", "study_id"),
                            coords={"chain": post["chain"], "draw": post["draw"], "study_id": studies})

    settings: dict[str, Any] = {"parameterization": parameterization, "p_exch": p, "nex_prior": [m_nex, s_nex],
                                "disease_of_study": [levels[i] for i in d_index], "k_studies": len(studies),
                                "k_arms": len(ids), "multi_arm_studies": sorted({studies[s] for s in s_index[multi_rows]})}
    caveats = _caveats(levels, np.array([d_index[s_index == j][0] for j in range(len(studies))]), FAMILY)
    if caveats:
        settings["caveats"] = caveats
    return BuiltModel(model=model, family=FAMILY, measure=measure, data=data, priors={**resolved, "nex": nex},
                      settings=settings, study_ids=ids, study_index={"events": None},
                      data_values=lambda table: rate_values(table.reset_index(drop=True)),
                      integrated_loglik=integrated_loglik)
